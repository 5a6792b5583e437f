"""Answering a mempool RECHECK from the last check of the same tx, when nothing it read has changed.

After every Commit, CometBFT runs CheckTx (type RECHECK) again on every tx left in the mempool, on
a check state reset to the committed state, so txs that became invalid are evicted. A full check is
a pure function of the tx bytes, the block it is checked against and the state values it reads.
The rule: when a tx's last successful check on this node

- read only keys (no iteration) and, apart from the accumulators below, each of them holds the
  same value in the check state now as then,
- ran only messages whose handlers never read the block's height or time (MsgRoute.reads_block_time
  False; a timeout height is compared again here, the ante handler's one use of the height), and
- credited each accumulator (the fee collector's fee-denom balance: every tx adds its fee to it
  and no check of such a tx reads it) with an amount whose encoding keeps its byte length,

then a full check now would read the same values, take the same decisions, charge the same gas
(gas is per key and value byte: the lengths are equal) and write the same values, except that each
accumulator ends at its current value plus the same credit. So the recheck writes those values into
the check state and answers the recorded result, without decoding, verifying or running anything.
A tx whose sender's sequence was used or whose balance changed (fee no longer payable) read a
different account or balance value: it takes the full check, which evicts it. So does a tx whose
recipient's balance or account changed, or that created an account while another was created.

Node-local and mempool-only: CheckTx never feeds FinalizeBlock or the app hash (DESIGN.md section 3).
"""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

from app.core.codec import decode_amount, encode_amount
from app.core.store import KVStore
from app.core.txcache import BoundedLRU

__all__ = ["RecheckMemo", "RECHECK_MAX_ENTRIES", "RECHECK_MAX_BYTES"]

# One entry per memoizable tx in the mempool (CometBFT's default mempool holds 5000).
RECHECK_MAX_ENTRIES = 1 << 14
RECHECK_MAX_BYTES = 32 << 20
_ENTRY_OVERHEAD = 256

R = TypeVar("R")


class _Credit(NamedTuple):
    """An accumulator the tx added to: its key, the amount added, its value's length before and after."""

    key: bytes
    amount: int
    len_before: int
    len_after: int


class _Record(NamedTuple, Generic[R]):
    """One successful check: the values it read (accumulators aside), wrote, credited, and its result."""

    reads: dict[bytes, bytes | None]
    writes: dict[bytes, bytes | None]
    credits: tuple[_Credit, ...]
    timeout_height: int
    result: R


def _size(value: bytes | None) -> int:
    return len(value) if value else 0


def _credit(key: bytes, before: bytes | None, after: bytes | None) -> _Credit | None:
    """The credit a tx made to an accumulator, or None if it did anything else to it."""
    if after is None:
        return None
    amount = decode_amount(after) - (decode_amount(before) if before else 0)
    return _Credit(key, amount, _size(before), len(after)) if amount >= 0 else None


def _credits(
    reads: dict[bytes, bytes | None], writes: dict[bytes, bytes | None], prefix: bytes
) -> tuple[_Credit, ...] | None:
    """The tx's credits to accumulators (taken out of reads), or None if one was not a plain credit."""
    credits = []
    for key in [k for k in writes if k.startswith(prefix)]:
        if key not in reads:
            return None  # written without being read: not an addition
        credit = _credit(key, reads.pop(key), writes[key])
        if credit is None:
            return None
        credits.append(credit)
    return tuple(credits)


class RecheckMemo(Generic[R]):
    """The last successful check of memoizable txs, by tx hash (bounded LRU, entries and bytes)."""

    def __init__(self, max_entries: int = RECHECK_MAX_ENTRIES, max_bytes: int = RECHECK_MAX_BYTES) -> None:
        self._lru: BoundedLRU[bytes, _Record[R]] = BoundedLRU(max_entries, max_bytes)

    def __len__(self) -> int:
        return len(self._lru)

    def record(
        self,
        tx_hash: bytes,
        reads: dict[bytes, bytes | None],
        writes: dict[bytes, bytes | None],
        accumulator_prefix: bytes,
        timeout_height: int,
        result: R,
    ) -> None:
        """Remember a successful check that read only `reads` (no iteration) and wrote `writes`; keys
        under accumulator_prefix must be amounts it added to. Takes both dicts: the caller lets go."""
        credits = _credits(reads, writes, accumulator_prefix)
        if credits is None:
            self._lru.pop(tx_hash)  # this tx is always checked in full
            return
        size = _ENTRY_OVERHEAD + sum(map(len, reads)) + sum(map(len, writes))
        size += sum(len(v) for v in reads.values() if v) + sum(len(v) for v in writes.values() if v)
        self._lru.put(tx_hash, _Record(reads, writes, credits, timeout_height, result), size)

    def replay(self, tx_hash: bytes, store: KVStore, height: int) -> R | None:
        """If the rule in the module docstring holds, apply the recorded writes and return the result."""
        record = self._lru.get(tx_hash)
        if record is None:
            return None
        if record.timeout_height and height > record.timeout_height:
            return None
        get = store.get
        for key, value in record.reads.items():
            if get(key) != value:
                return None
        credited = []
        for c in record.credits:
            current = get(c.key)
            value = encode_amount((decode_amount(current) if current else 0) + c.amount)
            if _size(current) != c.len_before or len(value) != c.len_after:
                return None  # the gas for reading or writing it would differ
            credited.append((c.key, value))
        for key, written in record.writes.items():
            if written is None:
                store.delete(key)
            else:
                store.set(key, written)
        for key, value in credited:  # over the recorded (stale) accumulator values just written
            store.set(key, value)
        return record.result

    def pop(self, tx_hash: bytes) -> None:
        """Forget a tx (its check failed, or a block carried it)."""
        self._lru.pop(tx_hash)
