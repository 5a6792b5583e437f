"""Key-value layers: the backends (LevelDB, memory), branches that stage writes, and views.

Reads go down the stack (tx branch -> block branch -> committed state); writes stay in the top
branch until `write()` pushes them one level down. Nothing reaches the database except through
`CommitStore.commit` (app/state/store.py).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from app.core.gas import GasConfig, GasMeter
from app.core.store import KVReader, KVStore

__all__ = [
    "KVReader",
    "KVStore",
    "Branch",
    "RecordingBranch",
    "PrefixReader",
    "PrefixStore",
    "GasKV",
    "prefix_end",
]


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key with `prefix` (None if unbounded)."""
    p = bytearray(prefix)
    while p:
        if p[-1] < 0xFF:
            p[-1] += 1
            return bytes(p)
        p.pop()
    return None


class Branch:
    """A write overlay on a parent store: staged writes are visible here and written back on demand.

    `writes` maps key -> value, or None for a deletion. Iteration merges the overlay with the parent
    in key order, so a branch behaves exactly like the store it will become.
    """

    __slots__ = ("parent", "writes")

    def __init__(self, parent: KVReader) -> None:
        self.parent = parent
        self.writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        """Staged value if any, else the parent's."""
        if key in self.writes:
            return self.writes[key]
        return self.parent.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        """Stage a write."""
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        """Stage a deletion."""
        self.writes[key] = None

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Merge staged and parent entries under `prefix`, in ascending key order."""
        staged = sorted(k for k in self.writes if k.startswith(prefix))
        parent_it = iter(self.parent.iterate(prefix))
        pending = next(parent_it, None)
        i = 0
        while i < len(staged) or pending is not None:
            if pending is not None and (i == len(staged) or pending[0] < staged[i]):
                yield pending
                pending = next(parent_it, None)
                continue
            key = staged[i]
            i += 1
            if pending is not None and pending[0] == key:
                pending = next(parent_it, None)
            value = self.writes[key]
            if value is not None:
                yield key, value

    def branch(self) -> Branch:
        """A nested branch on top of this one."""
        return Branch(self)

    def write(self) -> None:
        """Push staged writes into the parent (which must be writable) and clear them."""
        parent = self.parent
        assert isinstance(parent, Branch), "only a branch of a branch can write back"
        parent.writes.update(self.writes)
        self.writes = {}


class RecordingBranch(Branch):
    """A branch that also remembers, per key, the first value it read from its parent.

    What ran on it is then a function of `reads` (and of its other inputs): CheckTx uses that to
    answer a RECHECK from the last result when none of those values changed (app/core/recheck.py).
    Iterating reads an unknown set of keys, so it sets `iterated` and such a run is not memoized.
    The parent must not change while the branch is in use (a tx's branch over the check state).
    """

    __slots__ = ("reads", "iterated")

    def __init__(self, parent: KVReader) -> None:
        super().__init__(parent)
        self.reads: dict[bytes, bytes | None] = {}
        self.iterated = False

    def get(self, key: bytes) -> bytes | None:
        """Staged value if any, else the parent's (recorded on the first read)."""
        if key in self.writes:
            return self.writes[key]
        if key in self.reads:
            return self.reads[key]
        value = self.parent.get(key)
        self.reads[key] = value
        return value

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """As Branch.iterate; marks the run as not memoizable."""
        self.iterated = True
        return super().iterate(prefix)


class MemoryReader:
    """An immutable sorted snapshot of a dict, for tests and genesis dry-runs."""

    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        self._data = dict(data or {})
        self._keys = sorted(self._data)

    def get(self, key: bytes) -> bytes | None:
        """Value or None."""
        return self._data.get(key)

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Entries under prefix in key order."""
        i = bisect.bisect_left(self._keys, prefix)
        while i < len(self._keys) and self._keys[i].startswith(prefix):
            yield self._keys[i], self._data[self._keys[i]]
            i += 1


class PrefixReader:
    """A read-only view of a store under a fixed key prefix (a module's slice of the state)."""

    __slots__ = ("_store", "_prefix")

    def __init__(self, store: KVReader, prefix: bytes) -> None:
        self._store = store
        self._prefix = prefix

    def get(self, key: bytes) -> bytes | None:
        """Read prefix+key."""
        return self._store.get(self._prefix + key)

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Iterate with keys relative to this store's prefix."""
        n = len(self._prefix)
        for k, v in self._store.iterate(self._prefix + prefix):
            yield k[n:], v


class PrefixStore(PrefixReader):
    """A read-write view of a store under a fixed key prefix."""

    __slots__ = ("_writer",)

    def __init__(self, store: KVStore, prefix: bytes) -> None:
        super().__init__(store, prefix)
        self._writer = store

    def set(self, key: bytes, value: bytes) -> None:
        """Write prefix+key."""
        self._writer.set(self._prefix + key, value)

    def delete(self, key: bytes) -> None:
        """Delete prefix+key."""
        self._writer.delete(self._prefix + key)


class GasKV:
    """Charges a transaction's gas meter for every store operation, then delegates."""

    __slots__ = ("_store", "_meter", "_cfg")

    def __init__(self, store: KVStore, meter: GasMeter, cfg: GasConfig) -> None:
        self._store = store
        self._meter = meter
        self._cfg = cfg

    def get(self, key: bytes) -> bytes | None:
        """Charge a read (flat + per byte of key and value)."""
        value = self._store.get(key)
        size = len(key) + (len(value) if value else 0)
        self._meter.consume(self._cfg.read_flat + self._cfg.read_per_byte * size, "read")
        return value

    def set(self, key: bytes, value: bytes) -> None:
        """Charge a write (flat + per byte)."""
        cost = self._cfg.write_flat + self._cfg.write_per_byte * (len(key) + len(value))
        self._meter.consume(cost, "write")
        self._store.set(key, value)

    def delete(self, key: bytes) -> None:
        """Charge a deletion."""
        self._meter.consume(self._cfg.delete, "delete")
        self._store.delete(key)

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Charge per entry visited."""
        for k, v in self._store.iterate(prefix):
            cost = self._cfg.iter_next_flat + self._cfg.read_per_byte * (len(k) + len(v))
            self._meter.consume(cost, "iterate")
            yield k, v
