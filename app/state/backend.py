"""Database backends: LevelDB through plyvel for nodes, a dict for unit tests.

A backend knows raw keys only; app/state/store.py decides the layout. `write_batch` is the only
way to change a backend, and it is atomic.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import plyvel

from app.state.kv import prefix_end

__all__ = ["Backend", "ConsistentReader", "LevelDBBackend", "MemoryBackend"]


class ConsistentReader(Protocol):
    """One frozen version of a backend, safe to read from another thread (snapshots)."""

    def get(self, key: bytes) -> bytes | None: ...

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Entries under prefix in key order, from the first key >= start on (a seek, not a scan)."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    """Raw key-value storage with atomic batches and point-in-time readers."""

    def get(self, key: bytes) -> bytes | None: ...

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]: ...

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: list[bytes]) -> None: ...

    def snapshot(self) -> ConsistentReader: ...

    def close(self) -> None: ...


def _iterator(source: Any, prefix: bytes, start: bytes) -> Any:
    """A plyvel iterator over prefix that seeks to start (LevelDB cannot combine prefix= with start=)."""
    if start <= prefix:
        return source.iterator(prefix=prefix)
    if not start.startswith(prefix):
        raise ValueError("iterate: start must lie under prefix")
    stop = prefix_end(prefix)
    return source.iterator(start=start) if stop is None else source.iterator(start=start, stop=stop)


class _PlyvelSnapshotReader:
    """A plyvel snapshot: LevelDB's own MVCC view, unaffected by later commits."""

    def __init__(self, snapshot: Any) -> None:
        self._snapshot = snapshot

    def get(self, key: bytes) -> bytes | None:
        """Value as of the snapshot."""
        return self._snapshot.get(key)

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Entries under prefix in key order from start on, as of the snapshot."""
        with _iterator(self._snapshot, prefix, start) as it:
            yield from it

    def close(self) -> None:
        """Release the versions the snapshot pinned."""
        self._snapshot.close()


class _CopiedReader:
    """A frozen copy of an in-memory backend (tests only: O(entries) to open)."""

    def __init__(self, data: dict[bytes, bytes]) -> None:
        self._backend = MemoryBackend()
        self._backend.write_batch(data, [])

    def get(self, key: bytes) -> bytes | None:
        """Value as of the copy."""
        return self._backend.get(key)

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Entries under prefix from start on, as of the copy."""
        return self._backend.iterate(prefix, start)

    def close(self) -> None:
        """Nothing to release."""


class LevelDBBackend:
    """LevelDB via plyvel; the app process holds its exclusive lock."""

    def __init__(self, path: str | Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        # Bloom filters make a get of an absent key (each commit looks up its fresh tree nodes in the
        # orphan index, almost all absent) skip the table files; they change no stored byte.
        self._db = plyvel.DB(str(path), create_if_missing=True, bloom_filter_bits=10)

    def get(self, key: bytes) -> bytes | None:
        """Value or None."""
        return self._db.get(key)

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Entries under prefix in key order from start on."""
        with _iterator(self._db, prefix, start) as it:
            yield from it

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: list[bytes]) -> None:
        """Apply all puts and deletes atomically (transaction=True: all or nothing on error)."""
        with self._db.write_batch(transaction=True, sync=True) as wb:
            for k in deletes:
                wb.delete(k)
            for k, v in puts.items():
                wb.put(k, v)

    def snapshot(self) -> ConsistentReader:
        """A point-in-time reader (cheap: LevelDB pins the versions it needs)."""
        return _PlyvelSnapshotReader(self._db.snapshot())

    def close(self) -> None:
        """Release the LevelDB lock."""
        if not self._db.closed:
            self._db.close()


class MemoryBackend:
    """An in-memory backend with sorted iteration (unit and integration tests)."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        """Value or None."""
        return self._data.get(key)

    def iterate(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Entries under prefix in key order from start on (over a snapshot of the keys)."""
        keys = self._keys
        i = bisect.bisect_left(keys, max(prefix, start))
        while i < len(keys) and keys[i].startswith(prefix):
            k = keys[i]
            if k in self._data:
                yield k, self._data[k]
            i += 1

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: list[bytes]) -> None:
        """Apply a batch; rebuilds the sorted key list (fine at test sizes)."""
        for k in deletes:
            self._data.pop(k, None)
        self._data.update(puts)
        self._keys = sorted(self._data)

    def snapshot(self) -> ConsistentReader:
        """A frozen copy."""
        return _CopiedReader(dict(self._data))

    def close(self) -> None:
        """Nothing to release."""
