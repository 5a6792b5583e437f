"""A hostile state-sync snapshot cannot grow the restoring node's memory: offers beyond the bounds
are refused, and chunks stream into the database (tracemalloc measures the peak)."""

from __future__ import annotations

import hashlib
import tracemalloc
import zlib
from pathlib import Path

from app.core.codec import encode_uvarint
from app.state import snapshots
from app.state.backend import LevelDBBackend
from app.state.snapshots import (
    FORMAT,
    ChunkResult,
    OfferResult,
    SnapshotInfo,
    SnapshotManager,
    SnapshotMetadata,
    compute_snapshot_hash,
)
from app.state.store import CommitStore

TRUSTED = hashlib.sha256(b"the app hash the light client trusts").digest()
RECORDS = 150_000  # tiny ascending records in one chunk: the old restore held every one of them
PEAK_BOUND = 16 << 20  # bytes: the old restore peaked at over 50 MiB on that chunk


def _offer(chunks: list[bytes], entries: int, declared_chunks: int | None = None) -> SnapshotInfo:
    hashes = tuple(hashlib.sha256(c).digest() for c in chunks)
    meta = SnapshotMetadata(5, TRUSTED, entries, hashes)
    count = len(hashes) if declared_chunks is None else declared_chunks
    return SnapshotInfo(5, FORMAT, count, compute_snapshot_hash(hashes), meta.encode())


def _tiny_records_chunk(n: int) -> bytes:
    """n records, key = 4-byte counter (strictly ascending), empty value: 6 bytes each."""
    return zlib.compress(b"".join(b"\x04" + i.to_bytes(4, "big") + b"\x00" for i in range(n)), 6)


def _stored(store: CommitStore) -> int:
    return sum(1 for _ in store.backend.iterate(b""))


def test_an_offer_of_2_to_the_32_chunks_or_impossible_entries_is_refused(tmp_path: Path) -> None:
    store = CommitStore(LevelDBBackend(tmp_path / "db"))
    manager = SnapshotManager(tmp_path / "snap", store, interval=0)
    one = [zlib.compress(b"")]
    offers = [
        _offer(one, 0, declared_chunks=2**32 - 1),
        # Metadata claiming 2^32 - 1 chunk hashes that it does not carry.
        SnapshotInfo(5, FORMAT, 2**32 - 1, bytes(32), _offer(one, 0).metadata[:-32]),
        _offer(one * (snapshots._MAX_RESTORE_CHUNKS + 1), 0),
        _offer(one, 2**64 - 1),  # more entries than one chunk can hold
    ]
    tracemalloc.start()
    answers = [manager.offer(offer, TRUSTED) for offer in offers]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert answers == [OfferResult.REJECT] * 4
    assert peak < PEAK_BOUND
    store.backend.close()


def test_a_chunk_of_many_tiny_records_streams_into_the_database_in_bounded_memory(tmp_path: Path) -> None:
    store = CommitStore(LevelDBBackend(tmp_path / "db"))
    manager = SnapshotManager(tmp_path / "snap", store, interval=0)
    first = _tiny_records_chunk(RECORDS)
    second = zlib.compress(b"\x01\x00\x00")  # key b"\x00": not after the first chunk's keys
    info = _offer([first, second], entries=2 * (snapshots._MAX_CHUNK_PLAIN // 2))
    assert manager.offer(info, TRUSTED) == OfferResult.ACCEPT

    tracemalloc.start()
    answer = manager.apply_chunk(0, first, "peer-a")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert answer == (ChunkResult.ACCEPT, [], [])
    assert peak < PEAK_BOUND, f"restoring one chunk peaked at {peak} bytes"
    assert _stored(store) == 2 * RECORDS  # each value and its leaf, already on disk
    # The next chunk breaks the key order: the snapshot and its sender are rejected, the partial
    # restore is wiped, and the node is where it was (height 0, nothing committed to lose).
    assert manager.apply_chunk(1, second, "peer-b") == (ChunkResult.REJECT_SNAPSHOT, [], ["peer-b"])
    assert _stored(store) == 0 and store.height == 0
    store.backend.close()


def test_more_records_than_declared_abort_within_the_chunk(tmp_path: Path) -> None:
    store = CommitStore(LevelDBBackend(tmp_path / "db"))
    manager = SnapshotManager(tmp_path / "snap", store, interval=0)
    chunk = _tiny_records_chunk(50_000)
    assert manager.offer(_offer([chunk], entries=10), TRUSTED) == OfferResult.ACCEPT
    assert manager.apply_chunk(0, chunk, "peer-a") == (ChunkResult.REJECT_SNAPSHOT, [], ["peer-a"])
    assert _stored(store) == 0
    store.backend.close()


def test_a_chunk_inflating_past_the_bound_is_rejected_without_inflating_it(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(snapshots, "_MAX_CHUNK_PLAIN", 8 << 20)
    store = CommitStore(LevelDBBackend(tmp_path / "db"))
    manager = SnapshotManager(tmp_path / "snap", store, interval=0)
    # One record whose value claims 64 MiB, all of it there: refused at its length, never inflated.
    bomb = zlib.compress(b"\x05" + bytes(5) + encode_uvarint(64 << 20) + bytes(64 << 20), 9)
    assert manager.offer(_offer([bomb], entries=1), TRUSTED) == OfferResult.ACCEPT
    tracemalloc.start()
    answer = manager.apply_chunk(0, bomb, "peer-a")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert answer == (ChunkResult.REJECT_SNAPSHOT, [], ["peer-a"])
    assert peak < PEAK_BOUND
    store.backend.close()
