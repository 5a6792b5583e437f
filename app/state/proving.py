"""One consistent read of committed state, proving every entry it reads.

A LevelDB snapshot pins one version of the whole database: the flat state, the tree nodes, and the
height and app hash that Commit wrote in the same atomic batch. So an answer's height, app hash,
values and proofs always belong together, whatever blocks commit while it is being computed, and a
block that is executed but not yet committed is never seen.

Both transports run answers here: gRPC always proves; ABCI Query proves when asked (`prove=true`).
"""

from __future__ import annotations

from typing import Any

from app.core.codec import from_u64be
from app.core.query import Answer, StateReader, compute_page_limit
from app.state import smt
from app.state.backend import Backend, ConsistentReader
from app.state.store import META_APP_HASH, META_HEIGHT, NODE_PREFIX, STATE_PREFIX
from synod.base.v1 import pagination_pb2, proof_pb2

__all__ = ["CommittedReader"]


class CommittedReader(StateReader):
    """Reads one committed height and, when proving, keeps a proof of each key read."""

    def __init__(self, snapshot: ConsistentReader, prove: bool = True) -> None:
        """Read height and app hash from the snapshot itself, so they match its state."""
        self._snapshot = snapshot
        self._prove = prove
        raw_height = snapshot.get(META_HEIGHT)
        self._height = from_u64be(raw_height) if raw_height else 0
        self.app_hash = snapshot.get(META_APP_HASH) or smt.EMPTY
        self._entries: dict[bytes, proof_pb2.ProvenKV] = {}

    @classmethod
    def open(cls, backend: Backend, prove: bool = True) -> CommittedReader:
        """Pin the backend's current committed version (cheap: LevelDB keeps the versions it needs)."""
        return cls(backend.snapshot(), prove)

    @property
    def height(self) -> int:
        """The committed height of the pinned version (0 before the first Commit)."""
        return self._height

    def close(self) -> None:
        """Release the snapshot."""
        self._snapshot.close()

    def _read_node(self, node_hash: bytes) -> bytes | None:
        """A tree node of the pinned version."""
        return self._snapshot.get(NODE_PREFIX + node_hash)

    def _record(self, key: bytes, value: bytes | None) -> None:
        """Prove key against the pinned root, once per key."""
        if not self._prove or key in self._entries:
            return
        proof = smt.prove(self.app_hash, smt.hash_key(key), self._read_node)
        self._entries[key] = proof_pb2.ProvenKV(
            key=key, value=value or b"", proof=proof.encode(), exists=value is not None
        )

    def get(self, key: bytes) -> bytes | None:
        """The committed value of a full state key (None if absent), proven."""
        value = self._snapshot.get(STATE_PREFIX + key)
        self._record(key, value)
        return value

    def page(
        self, prefix: bytes, page: pagination_pb2.PageRequest
    ) -> tuple[list[tuple[bytes, bytes]], pagination_pb2.PageResponse]:
        """Entries under prefix from prefix + page.key on, each proven; next_key is relative to prefix.

        The backend seeks straight to the page's first key, so page 1,000 costs what page 1 does.
        """
        limit = compute_page_limit(page)
        items: list[tuple[bytes, bytes]] = []
        base = STATE_PREFIX + prefix
        for stored_key, value in self._snapshot.iterate(base, base + page.key):
            key = stored_key[len(STATE_PREFIX) :]
            if len(items) == limit:
                return items, pagination_pb2.PageResponse(next_key=key[len(prefix) :])
            self._record(key, value)
            items.append((key, value))
        return items, pagination_pb2.PageResponse()

    def state_proof(self) -> proof_pb2.StateProof:
        """The height, app hash and every entry read so far, in the order read."""
        return proof_pb2.StateProof(
            height=self.height, app_hash=self.app_hash, entries=list(self._entries.values())
        )

    def answer(self, answer: Answer, request: Any) -> Any:
        """Run an answer function here and attach the height, app hash and proof of what it read."""
        response: Any = answer(self, request)
        response.proof.CopyFrom(self.state_proof())
        return response
