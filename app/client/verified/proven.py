"""Check the raw entries of an answer against a trusted app hash, then read only what was proven.

`ProvenState.verify` checks every ProvenKV: its proof must show exactly what it claims (the value
present, or the key absent) under the trusted root. `ProvenReader` then plays the server's part for
the module's answer function: `get` returns a proven value (None for proven absence) of a key the
*client* computed, and refuses any key the answer did not prove.

A list cannot be proven complete: the tree is keyed by SHA-256(key), so keys that are neighbours in
the module's order are scattered across the tree and no proof shows that none lie between two of
them (as with Cosmos SDK's IAVL range queries, which are not proven either). Every item returned is
proven; a server can still leave items out.
"""

from __future__ import annotations

from bisect import bisect_left

from app.client.verified.errors import (
    BadPagination,
    MalformedProof,
    MissingProof,
    TamperedEntry,
    WrongHeight,
    WrongKey,
)
from app.core.query import StateReader, compute_page_limit
from app.state import smt
from synod.base.v1 import pagination_pb2, proof_pb2

__all__ = ["ProvenState", "ProvenReader", "verify_entry"]


def _show(key: bytes) -> str:
    """A key for error messages."""
    return key.hex() if len(key) <= 64 else key[:64].hex() + "..."


def verify_entry(entry: proof_pb2.ProvenKV, app_hash: bytes, height: int) -> None:
    """Raise unless entry's proof shows its value (or its absence) under app_hash."""
    try:
        proof = smt.Proof.decode(entry.proof)
    except smt.ProofError as e:
        raise MalformedProof(f"the proof of key {_show(entry.key)} is malformed: {e}") from None
    try:
        if entry.exists:
            smt.verify_membership(app_hash, entry.key, entry.value, proof)
        else:
            if entry.value:
                raise smt.ProofError("an absent key carries a value")
            smt.verify_non_membership(app_hash, entry.key, proof)
    except smt.ProofError as e:
        claim = "its value" if entry.exists else "its absence"
        raise TamperedEntry(
            f"key {_show(entry.key)}: the proof does not show {claim} under the app hash of height "
            f"{height} ({app_hash.hex().upper()}): the value or the proof was tampered with ({e})"
        ) from None


class ProvenState:
    """The entries of one answer, each verified against the trusted app hash of its height."""

    def __init__(self, height: int, values: dict[bytes, bytes | None]) -> None:
        self.height = height
        self._values = values
        self._present = sorted(k for k, v in values.items() if v is not None)
        self._used: set[bytes] = set()

    @classmethod
    def verify(cls, proof: proof_pb2.StateProof, trusted_app_hash: bytes) -> ProvenState:
        """Check the claimed root is the trusted one, then every entry against it."""
        if proof.height <= 0 or not proof.app_hash:
            raise MissingProof("the answer carries no state proof (no height or app hash)")
        if proof.app_hash != trusted_app_hash:
            raise WrongHeight(
                f"the answer claims app hash {proof.app_hash.hex().upper()} for height {proof.height}, "
                f"but the verified header {proof.height + 1} commits to {trusted_app_hash.hex().upper()}: "
                "the proofs are against another height (or another chain)"
            )
        values: dict[bytes, bytes | None] = {}
        for entry in proof.entries:
            if entry.key in values:
                raise WrongKey(f"the answer proves key {_show(entry.key)} twice")
            verify_entry(entry, trusted_app_hash, proof.height)
            values[entry.key] = entry.value if entry.exists else None
        return cls(proof.height, values)

    def get(self, key: bytes) -> bytes | None:
        """The proven value of key (None: proven absent); WrongKey if the answer did not prove it."""
        if key not in self._values:
            proven = ", ".join(_show(k) for k in self._values if k not in self._used) or "nothing else"
            raise WrongKey(
                f"the answer has no proof for key {_show(key)}, which the query needs (it proves {proven}): "
                "a proof for another key"
            )
        self._used.add(key)
        return self._values[key]

    def present_keys(self, start: bytes, end: bytes | None, prefix: bytes) -> list[bytes]:
        """Proven present keys with start <= key < end (no end: unbounded) under prefix, in order."""
        out = []
        for key in self._present[bisect_left(self._present, start) :]:
            if (end is not None and key >= end) or not key.startswith(prefix):
                break
            out.append(key)
        return out

    def require_all_used(self) -> None:
        """Reject proofs the answer did not need: a server must not slip in unasked-for keys."""
        unused = [k for k in self._values if k not in self._used]
        if unused:
            raise WrongKey(
                f"the answer proves key {_show(unused[0])}, which the query did not ask about "
                f"({len(unused)} such keys)"
            )


class ProvenReader(StateReader):
    """A StateReader over proven entries, paging as the server said it paged."""

    def __init__(self, state: ProvenState, served_page: pagination_pb2.PageResponse | None) -> None:
        self._state = state
        self._served_page = served_page or pagination_pb2.PageResponse()

    @property
    def height(self) -> int:
        """The proven height (its app hash is in the verified header height + 1)."""
        return self._state.height

    def get(self, key: bytes) -> bytes | None:
        """A proven value (None: proven absent) of a key the client computed."""
        return self._state.get(key)

    def page(
        self, prefix: bytes, page: pagination_pb2.PageRequest
    ) -> tuple[list[tuple[bytes, bytes]], pagination_pb2.PageResponse]:
        """The proven entries in [prefix + page.key, prefix + next_key), at most the page limit."""
        next_key = self._served_page.next_key
        if next_key and next_key <= page.key:
            raise BadPagination(
                f"the server's next page key {next_key.hex()} does not come after this page's "
                f"{page.key.hex()}"
            )
        end = prefix + next_key if next_key else None
        keys = self._state.present_keys(prefix + page.key, end, prefix)[: compute_page_limit(page)]
        items = [(key, self._state.get(key) or b"") for key in keys]
        return items, pagination_pb2.PageResponse(next_key=next_key)
