"""Node-local memos of pure functions of a transaction's bytes: decoded txs and signature verdicts.

CometBFT hands a node the same transaction up to three times: CheckTx when it arrives, CheckTx again
(RECHECK) after every Commit while it waits in the mempool, and FinalizeBlock once a block carries it.
Decoding it and verifying its signature gave the same answer each time, at about 40 and 60 us.

Both memos are safe for determinism (DESIGN.md section 3): what they remember is a pure function of
the exact transaction bytes (and, for a signature, of the chain id and account number bound into the
signed bytes), so a node with a cold memo computes the same thing a node with a warm one looks up.
Keys are the SHA-256 of the *whole* raw tx, so different bytes, even one bit apart, never share an
entry. Nothing here changes gas: the ante handler charges signature gas whether or not it verifies.

Bounds: entries and bytes, least recently used first out. Callers check the tx's size against
`max_tx_bytes` before hashing it or looking it up; a decoded tx is kept only once it passed CheckTx,
and a verdict is a fixed-size entry, so a peer's garbage is never kept (DESIGN.md section 12).
An entry is dropped when a block carries its tx (CometBFT then drops it from the mempool).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, NamedTuple, TypeVar

from google.protobuf.message import Message

from app.core.coins import Coins
from app.core.msgs import MsgRoute
from app.core.tx import DecodedTx
from synod.tx.v1 import tx_pb2

__all__ = [
    "BoundedLRU",
    "DecodedCache",
    "SignatureVerdicts",
    "DECODED_MAX_ENTRIES",
    "DECODED_MAX_BYTES",
    "VERDICT_MAX_ENTRIES",
]

# Sized for a full mempool (CometBFT's default holds 5000 txs): a tx checked on arrival is still
# remembered when a block carries it. An entry holds the body and auth info bytes (less than the raw
# size) and a few small objects; bounded in bytes too, as a tx may be max_tx_bytes (1 MiB by default).
DECODED_MAX_ENTRIES = 1 << 14
DECODED_MAX_BYTES = 64 << 20
_ENTRY_OVERHEAD = 512
# A verdict is a 32-byte hash, a chain id (at most 50 bytes) and an account number.
VERDICT_MAX_ENTRIES = 1 << 16
_VERDICT_BYTES = 32 + 50 + 8

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """A least-recently-used map bounded in entries and in (caller-declared) bytes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: K) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        """The value under key (now the most recently used), or None."""
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Remember value under key, evicting the least recently used; a value over max_bytes is not kept."""
        self.pop(key)
        if size > self.max_bytes:
            return
        self._items[key] = (value, size)
        self.nbytes += size
        while len(self._items) > self.max_entries or self.nbytes > self.max_bytes:
            _, (_, old) = self._items.popitem(last=False)
            self.nbytes -= old

    def pop(self, key: K) -> None:
        """Forget key, if present."""
        item = self._items.pop(key, None)
        if item is not None:
            self.nbytes -= item[1]


class _Decoded(NamedTuple):
    """What decoding proved about a tx, as immutable values only (bytes, str, tuples, routes)."""

    body_bytes: bytes
    auth_info_bytes: bytes
    signature: bytes
    signer: str
    fee: Coins
    # The route of each message of the body, in order; each one's encoding and stateless check passed.
    routes: tuple[MsgRoute, ...]


class DecodedCache:
    """Decoded, stateless-checked txs by tx hash.

    Protobuf messages are mutable, so no message object is ever shared: an entry keeps the
    already-checked canonical bytes, and each lookup parses fresh messages from them (a plain parse,
    about 5 us, instead of the strict decode's parse, re-serialization and stateless checks).
    """

    def __init__(self, max_entries: int = DECODED_MAX_ENTRIES, max_bytes: int = DECODED_MAX_BYTES) -> None:
        self._lru: BoundedLRU[bytes, _Decoded] = BoundedLRU(max_entries, max_bytes)

    def __len__(self) -> int:
        return len(self._lru)

    def get(self, tx_hash: bytes, raw: bytes) -> tuple[DecodedTx, list[tuple[MsgRoute, Message]]] | None:
        """A fresh decoded tx and its messages, if this tx hash was remembered."""
        entry = self._lru.get(tx_hash)
        if entry is None:
            return None
        body = tx_pb2.TxBody.FromString(entry.body_bytes)
        tx = DecodedTx(
            raw=raw,
            body=body,
            auth_info=tx_pb2.AuthInfo.FromString(entry.auth_info_bytes),
            body_bytes=entry.body_bytes,
            auth_info_bytes=entry.auth_info_bytes,
            signature=entry.signature,
            signer=entry.signer,
            fee=entry.fee,
            hash=tx_hash,
        )
        messages = zip(entry.routes, body.messages, strict=True)
        return tx, [(route, route.cls.FromString(any_msg.value)) for route, any_msg in messages]

    def put(self, tx: DecodedTx, msgs: list[tuple[MsgRoute, Message]]) -> None:
        """Remember a tx whose strict decode and stateless checks passed."""
        routes = tuple(route for route, _ in msgs)
        entry = _Decoded(tx.body_bytes, tx.auth_info_bytes, tx.signature, tx.signer, tx.fee, routes)
        self._lru.put(tx.hash, entry, len(tx.raw) + _ENTRY_OVERHEAD)

    def pop(self, tx_hash: bytes) -> None:
        """Forget a tx (a block carried it: CometBFT drops it from the mempool)."""
        self._lru.pop(tx_hash)


class SignatureVerdicts:
    """The (tx hash, chain id, account number) triples whose signature verified: positive verdicts only.

    The sign bytes are SignDoc{body_bytes, auth_info_bytes, chain_id, account_number}; the tx hash fixes
    the body, auth info (with the public key) and signature, and the other two complete the sign bytes,
    so a triple fixes every input of the verification. A tx hash alone would not do: an account created
    by a tx still in the mempool may get another account number once blocks order it differently.
    """

    def __init__(self, max_entries: int = VERDICT_MAX_ENTRIES) -> None:
        self._lru: BoundedLRU[tuple[bytes, str, int], None] = BoundedLRU(
            max_entries, max_entries * _VERDICT_BYTES
        )

    def __len__(self) -> int:
        return len(self._lru)

    def is_verified(self, tx_hash: bytes, chain_id: str, account_number: int) -> bool:
        """True if this tx's signature verified for this chain id and account number before."""
        key = (tx_hash, chain_id, account_number)
        if key not in self._lru:
            return False
        self._lru.get(key)
        return True

    def add(self, tx_hash: bytes, chain_id: str, account_number: int) -> None:
        """Remember a signature that verified."""
        self._lru.put((tx_hash, chain_id, account_number), None, _VERDICT_BYTES)

    def discard(self, tx_hash: bytes, chain_id: str, account_number: int) -> None:
        """Forget one verdict."""
        self._lru.pop((tx_hash, chain_id, account_number))
