"""State-sync snapshots: take them off the consensus path, serve their chunks, restore from a peer's.

Format 1 (`FORMAT`). A snapshot at height H is the committed flat state after Commit of H: every
(state key, value) pair in ascending key order, without tree nodes (the receiver rebuilds the sparse
Merkle tree, which also verifies every value against the light-client-trusted app hash).

Chunk i (zlib, level 6) decompresses to records, each `uvarint(len(key)) key uvarint(len(value))
value`; keys strictly ascend across the whole snapshot. A chunk is closed before the record that
would take its uncompressed size past `chunk_bytes` (a record larger than that sits alone), so chunk
boundaries do not depend on the compressor, and a snapshot always has at least one chunk.

Metadata (the ABCI `Snapshot.metadata`), big-endian, exactly this long:

    magic "SYNS" (4) | format u8 | height u64 | app_hash (32) | entries u64 | chunks u32
    | sha256 of each chunk (32 each)

`Snapshot.hash` = sha256(concatenated chunk hashes). Two nodes with the same zlib build produce
byte-identical chunks for the same height.

On disk: `<directory>/<height:020d>.<format>/` holds `metadata` and `chunk-<index:08d>` files. It is
written as `.tmp-<name>` and renamed once complete; pruning renames to `.trash-<name>` before deleting,
so a listed snapshot is always whole.

Off the consensus path: `maybe_snapshot` opens a consistent reader (Backend.snapshot)
during Commit and hands the serialization to an executor. app/state may not import threading (the
import-linter contract), so the node passes one in, e.g. ThreadPoolExecutor(max_workers=1); without
one the work runs inline. A snapshot requested while the previous one is still being written is
skipped, so slow disks never queue up pinned LevelDB versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Protocol

from app.core.codec import VarintError, decode_uvarint, encode_uvarint, u64be
from app.core.fsutil import fsync_directory, write_synced
from app.state import smt
from app.state.backend import ConsistentReader

# The store's layout constants: store.py is the one place that names them.
from app.state.store import (
    META_APP_HASH,
    META_HEIGHT,
    NODE_PREFIX,
    ORPHAN_PREFIX,
    ORPHANS_AT_PREFIX,
    RESTORE_PREFIX,
    ROOT_PREFIX,
    STATE_PREFIX,
    CommitStore,
)

__all__ = [
    "FORMAT",
    "ChunkResult",
    "OfferResult",
    "SnapshotError",
    "SnapshotExecutor",
    "SnapshotInfo",
    "SnapshotManager",
    "SnapshotMetadata",
    "commit_restored_state",
    "compute_snapshot_hash",
    "decode_chunk",
    "iter_chunks",
    "iter_records",
    "rebuild_tree",
    "wipe_uncommitted_state",
]

log = logging.getLogger("synod.snapshots")

FORMAT = 1
_MAGIC = b"SYNS"
_META_HEADER = struct.Struct(">4sBQ32sQI")
_MAX_CHUNKS = 2**32 - 1  # Snapshot.chunks is a uint32
_MAX_CHUNK_PLAIN = 256 << 20  # a snapshot's maker is untrusted: bound what one chunk may inflate to
# A restore refuses an offer of more chunks: 100,000 chunks of the default 4 MiB is 400 GiB of state,
# and its metadata (32 bytes a chunk) stays under CometBFT's 4 MB snapshot message.
_MAX_RESTORE_CHUNKS = 100_000
_INFLATE_STEP = 1 << 20
# Restored records go to the database in batches of about this much memory (not the chunk's size),
# counting each put at its bytes plus _PUT_OVERHEAD for the Python objects that hold it.
_RESTORE_BATCH_BYTES = 4 << 20
_PUT_OVERHEAD = 100
_ZLIB_LEVEL = 6
_REBUILD_BATCH = 65_536
_WIPE_BATCH = 10_000
_METADATA = "metadata"
_TMP, _TRASH = ".tmp-", ".trash-"
_DIR_RE = re.compile(r"([0-9]{20})\.([0-9]+)")  # fullmatch: a name with a final newline is no snapshot


class SnapshotError(Exception):
    """A snapshot is malformed, or its contents do not match what it or the trusted app hash claim."""


class OfferResult(IntEnum):
    """Values of abci.ResponseOfferSnapshot.Result (app/state stays ABCI-unaware; a test pins them)."""

    ACCEPT = 1
    ABORT = 2
    REJECT = 3
    REJECT_FORMAT = 4


class ChunkResult(IntEnum):
    """Values of abci.ResponseApplySnapshotChunk.Result (a test pins them)."""

    ACCEPT = 1
    ABORT = 2
    RETRY = 3
    RETRY_SNAPSHOT = 4
    REJECT_SNAPSHOT = 5


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot as ABCI's Snapshot message describes it."""

    height: int
    format: int
    chunks: int
    hash: bytes
    metadata: bytes


@dataclass(frozen=True)
class SnapshotMetadata:
    """The decoded `Snapshot.metadata` of format 1."""

    height: int
    app_hash: bytes
    entries: int
    chunk_hashes: tuple[bytes, ...]

    def encode(self) -> bytes:
        """Header then the chunk hashes (see the module docstring)."""
        header = _META_HEADER.pack(
            _MAGIC, FORMAT, self.height, self.app_hash, self.entries, len(self.chunk_hashes)
        )
        return header + b"".join(self.chunk_hashes)

    @classmethod
    def decode(cls, data: bytes) -> SnapshotMetadata:
        """Parse metadata; raise SnapshotError unless it is exactly one valid encoding."""
        if len(data) < _META_HEADER.size:
            raise SnapshotError(f"metadata is {len(data)} bytes, shorter than its header")
        magic, version, height, app_hash, entries, count = _META_HEADER.unpack_from(data)
        if magic != _MAGIC or version != FORMAT:
            raise SnapshotError("metadata is not Synod snapshot format 1")
        if count == 0 or len(data) != _META_HEADER.size + 32 * count:
            raise SnapshotError(f"metadata length does not match its {count} chunk hashes")
        body = data[_META_HEADER.size :]
        hashes = tuple(body[i : i + 32] for i in range(0, len(body), 32))
        return cls(height, app_hash, entries, hashes)


def compute_snapshot_hash(chunk_hashes: Iterable[bytes]) -> bytes:
    """The snapshot's hash: sha256 over its chunk hashes, concatenated in order."""
    return hashlib.sha256(b"".join(chunk_hashes)).digest()


def iter_chunks(entries: Iterable[tuple[bytes, bytes]], chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Yield (compressed chunk, number of records) over ordered entries; always at least one chunk."""
    buf, count, emitted = bytearray(), 0, False
    for key, value in entries:
        record = encode_uvarint(len(key)) + key + encode_uvarint(len(value)) + value
        if count and len(buf) + len(record) > chunk_bytes:
            yield zlib.compress(buf, _ZLIB_LEVEL), count
            buf, count, emitted = bytearray(), 0, True
        buf += record
        count += 1
    if count or not emitted:
        yield zlib.compress(buf, _ZLIB_LEVEL), count


def decode_chunk(chunk: bytes) -> list[tuple[bytes, bytes]]:
    """Inflate one chunk into its (key, value) records; raise SnapshotError if malformed."""
    return list(iter_records(chunk))


def iter_records(chunk: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield one chunk's (key, value) records as it inflates; raise SnapshotError if malformed.

    Inflates _INFLATE_STEP bytes at a time, so memory holds one record and one step, never the
    chunk's records at once: a hostile chunk of millions of tiny records costs no more than one.
    """
    inflater = zlib.decompressobj()
    pending, buf, pos, total = chunk, bytearray(), 0, 0
    while True:
        try:
            more = inflater.decompress(pending, _INFLATE_STEP)
        except zlib.error as e:
            raise SnapshotError(f"chunk is not valid zlib data: {e}") from None
        pending, total = inflater.unconsumed_tail, total + len(more)
        if total > _MAX_CHUNK_PLAIN:
            raise SnapshotError(f"chunk inflates past {_MAX_CHUNK_PLAIN} bytes")
        del buf[:pos]  # what is left of a record cut by the step: appends stay amortized O(1)
        buf += more
        pos = 0
        while (record := _next_record(buf, pos)) is not None:
            key, value, pos = record
            yield key, value
        if not more and not pending:
            break
    if not inflater.eof or inflater.unused_data:
        raise SnapshotError("chunk is not exactly one complete zlib stream")
    if pos != len(buf):
        raise SnapshotError("chunk ends inside a record")


def _next_record(buf: bytearray, pos: int) -> tuple[bytes, bytes, int] | None:
    """The record starting at pos and the position after it, or None while it is incomplete."""
    key = _read_field(buf, pos)
    if key is None:
        return None
    value = _read_field(buf, key[1])
    if value is None:
        return None
    return key[0], value[0], value[1]


def _read_field(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """Read one uvarint-length-prefixed field at pos; None if buf ends before it does."""
    try:
        decoded = decode_uvarint(buf, pos)
    except VarintError as e:
        raise SnapshotError(f"chunk record: {e}") from None
    if decoded is None:
        return None
    n, start = decoded
    if n > _MAX_CHUNK_PLAIN:
        raise SnapshotError(f"chunk record of {n} bytes is larger than a chunk may inflate to")
    if start + n > len(buf):
        return None
    return bytes(buf[start : start + n]), start + n


# --- restoring into the store (the raw layout lives in store.py) ------------------------------


def wipe_uncommitted_state(store: CommitStore) -> int:
    """Delete every state entry, tree node, root, orphan record and restore leaf of a store at
    height 0; return how many."""
    if store.height != 0:
        raise SnapshotError(f"refusing to wipe a store with committed height {store.height}")
    wiped = 0
    for prefix in (STATE_PREFIX, NODE_PREFIX, ROOT_PREFIX, ORPHAN_PREFIX, ORPHANS_AT_PREFIX, RESTORE_PREFIX):
        while keys := [k for k, _ in islice(store.backend.iterate(prefix), _WIPE_BATCH)]:
            store.backend.write_batch({}, keys)
            wiped += len(keys)
    return wiped


def rebuild_tree(store: CommitStore) -> bytes:
    """Build the tree over the restore's leaves (RESTORE_PREFIX, in key-hash order) from empty;
    return the root.

    A batch takes the next _REBUILD_BATCH leaves, a contiguous key-hash range, so it rewrites only
    the nodes on the tree's right edge. Its write adds its nodes, deletes the edge nodes it replaced
    (no committed root reaches them) and the leaves it consumed, in one atomic batch: memory is one
    batch, and the disk holds the final tree and nothing else when the last one is written.
    """
    root = smt.EMPTY

    def read_node(node_hash: bytes) -> bytes | None:
        return store.backend.get(NODE_PREFIX + node_hash)

    while batch := list(islice(store.backend.iterate(RESTORE_PREFIX), _REBUILD_BATCH)):
        updates = {k[len(RESTORE_PREFIX) :]: v for k, v in batch}
        update = smt.apply_tracked_updates(root, updates, read_node)
        root = update.root
        puts = {NODE_PREFIX + h: node for h, node in update.nodes.items()}
        deletes = [NODE_PREFIX + h for h in sorted(update.orphans)] + [k for k, _ in batch]
        store.backend.write_batch(puts, deletes)
    return root


def commit_restored_state(store: CommitStore, height: int, app_hash: bytes) -> None:
    """Make restored state the committed state: root, height and app hash in one atomic batch."""
    meta = {ROOT_PREFIX + u64be(height): app_hash, META_HEIGHT: u64be(height), META_APP_HASH: app_hash}
    store.backend.write_batch(meta, [])
    store.height = height
    store.app_hash = app_hash


# --- background work ---------------------------------------------------------------------------


class SnapshotFuture(Protocol):
    """What an executor's submit() returns (concurrent.futures.Future fits)."""

    def done(self) -> bool: ...

    def result(self, timeout: float | None = None) -> object: ...


class SnapshotExecutor(Protocol):
    """Runs snapshot serialization; ThreadPoolExecutor(max_workers=1) fits."""

    def submit(self, fn: Callable[[], None], /) -> SnapshotFuture: ...


class _Completed:
    """The outcome of work already run."""

    def __init__(self, error: Exception | None) -> None:
        self._error = error

    def done(self) -> bool:
        return True

    def result(self, timeout: float | None = None) -> object:
        if self._error is not None:
            raise self._error
        return None


class _InlineExecutor:
    """Runs work at once, in the caller's thread (the default: app/state may not start threads)."""

    def submit(self, fn: Callable[[], None], /) -> SnapshotFuture:
        try:
            fn()
        except Exception as e:
            return _Completed(e)
        return _Completed(None)


@dataclass
class _Restore:
    """A restore in progress: the accepted offer and what its chunks have delivered so far.

    It holds no records: each goes to the database as it is decoded (the value under STATE_PREFIX,
    its leaf under RESTORE_PREFIX), so its memory does not grow with the snapshot.
    """

    info: SnapshotInfo
    meta: SnapshotMetadata
    trusted_app_hash: bytes
    next_index: int = 0
    entries: int = 0
    last_key: bytes | None = None

    def add(self, key: bytes) -> None:
        """Check the record continues the strictly ascending key order within the declared count."""
        if self.last_key is not None and key <= self.last_key:
            raise SnapshotError("snapshot keys are not strictly ascending")
        self.last_key = key
        self.entries += 1
        if self.entries > self.meta.entries:
            raise SnapshotError(f"snapshot holds more than the {self.meta.entries} entries it declares")


def _check_offer_bounds(meta: SnapshotMetadata) -> None:
    """Refuse a snapshot larger than a restore takes, or declaring more entries than it can hold."""
    if len(meta.chunk_hashes) > _MAX_RESTORE_CHUNKS:
        raise SnapshotError(
            f"{len(meta.chunk_hashes)} chunks exceed the {_MAX_RESTORE_CHUNKS} a restore takes"
        )
    # A record takes at least 2 bytes (two zero lengths), so no chunk holds more than this many.
    if meta.entries > len(meta.chunk_hashes) * (_MAX_CHUNK_PLAIN // 2):
        raise SnapshotError(f"{meta.entries} entries cannot fit in {len(meta.chunk_hashes)} chunks")


def _write_records(store: CommitStore, restore: _Restore, records: Iterable[tuple[bytes, bytes]]) -> None:
    """Check and write records in batches of _RESTORE_BATCH_BYTES: values and their tree leaves."""
    puts: dict[bytes, bytes] = {}
    size = 0
    for key, value in records:
        restore.add(key)
        puts[STATE_PREFIX + key] = value
        puts[RESTORE_PREFIX + smt.hash_key(key)] = smt.hash_value(value)
        size += len(key) + len(value) + 2 * (smt.HASH_SIZE + _PUT_OVERHEAD)
        if size >= _RESTORE_BATCH_BYTES:
            store.backend.write_batch(puts, [])
            puts, size = {}, 0
    if puts:
        store.backend.write_batch(puts, [])


def _dir_name(height: int, fmt: int) -> str:
    return f"{height:020d}.{fmt}"


def _chunk_name(index: int) -> str:
    return f"chunk-{index:08d}"


class SnapshotManager:
    """Takes snapshots after Commit, serves them to peers, and restores this node from a peer's."""

    def __init__(
        self,
        directory: Path,
        store: CommitStore,
        interval: int,
        keep_recent: int = 2,
        chunk_bytes: int = 4 << 20,
        *,
        executor: SnapshotExecutor | None = None,
        on_restored: Callable[[], None] | None = None,
    ) -> None:
        """interval 0 disables snapshots; keep_recent 0 keeps them all; executor None runs inline."""
        if interval < 0 or keep_recent < 0 or chunk_bytes <= 0:
            raise ValueError("interval and keep_recent must be >= 0 and chunk_bytes > 0")
        self.directory = Path(directory)
        self.store = store
        self.interval = interval
        self.keep_recent = keep_recent
        self.chunk_bytes = chunk_bytes
        self._executor: SnapshotExecutor = executor if executor is not None else _InlineExecutor()
        self._on_restored = on_restored
        self._pending: SnapshotFuture | None = None
        self._pending_height = 0
        self._restore: _Restore | None = None
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in self.directory.iterdir():
            if path.name.startswith((_TMP, _TRASH)):
                shutil.rmtree(path, ignore_errors=True)
        # At height 0 nothing is committed: state found there is debris of an interrupted restore,
        # and InitChain must not run on top of it.
        if store.height == 0 and (wiped := wipe_uncommitted_state(store)):
            log.warning("removed %d entries left by an interrupted state-sync restore", wiped)

    # --- taking and serving snapshots (called on the consensus and snapshot connections) --------

    def maybe_snapshot(self, height: int) -> None:
        """Right after Commit of `height`: freeze a view now, serialize it in the executor."""
        if self.interval == 0 or height <= 0 or height % self.interval:
            return
        if self.store.height != height:
            log.warning("snapshot of height %d skipped: the store is at %d", height, self.store.height)
            return
        if self._pending is not None and not self._pending.done():
            log.warning("snapshot of height %d skipped: the previous one is still being written", height)
            return
        if (self.directory / _dir_name(height, FORMAT)).exists():
            return
        try:
            reader = self.store.backend.snapshot()
            job = partial(self._write_snapshot, reader, height, self.store.app_hash)
            self._pending_height = height
            self._pending = self._executor.submit(job)
        except Exception:  # a snapshot must never fail the Commit that asked for it
            log.exception("snapshot of height %d could not be started", height)

    def wait(self) -> None:
        """Block until the last snapshot requested is written; re-raise its error, if any."""
        if self._pending is not None:
            self._pending.result()

    def close(self) -> None:
        """Wait for a snapshot in progress (call before closing the backend it reads)."""
        with contextlib.suppress(Exception):  # already logged by the worker
            self.wait()

    def get_oldest_height(self) -> int | None:
        """The lowest height of a snapshot on disk or being written (None: none), from names only.

        Cheap enough for every Commit: a listing of a few directory names, no file is read.
        """
        heights = [int(m[1]) for p in self.directory.iterdir() if (m := _DIR_RE.fullmatch(p.name))]
        if self._pending is not None and not self._pending.done():
            heights.append(self._pending_height)
        return min(heights, default=None)

    def list_snapshots(self) -> list[SnapshotInfo]:
        """Complete snapshots, newest first."""
        infos = []
        for path in self.directory.iterdir():
            match = _DIR_RE.fullmatch(path.name)
            if match is None or int(match[2]) != FORMAT:
                continue
            try:
                raw = (path / _METADATA).read_bytes()
                meta = SnapshotMetadata.decode(raw)
            except (OSError, SnapshotError):
                continue  # pruned meanwhile, or not ours
            hashes = meta.chunk_hashes
            infos.append(SnapshotInfo(meta.height, FORMAT, len(hashes), compute_snapshot_hash(hashes), raw))
        infos.sort(key=lambda s: s.height, reverse=True)
        return infos

    def load_chunk(self, height: int, format: int, chunk: int) -> bytes:
        """One chunk of a complete snapshot, or b"" if this node has no such chunk."""
        if format != FORMAT or height < 0 or chunk < 0:
            return b""
        try:
            return (self.directory / _dir_name(height, format) / _chunk_name(chunk)).read_bytes()
        except OSError:
            return b""

    def _write_snapshot(self, reader: ConsistentReader, height: int, app_hash: bytes) -> None:
        """Serialize the frozen view into a temp directory, then publish it with one rename."""
        name = _dir_name(height, FORMAT)
        tmp = self.directory / (_TMP + name)
        try:
            tmp.mkdir()
            entries = ((k[len(STATE_PREFIX) :], v) for k, v in reader.iterate(STATE_PREFIX))
            hashes, total = [], 0
            for index, (chunk, count) in enumerate(iter_chunks(entries, self.chunk_bytes)):
                write_synced(tmp / _chunk_name(index), chunk)
                hashes.append(hashlib.sha256(chunk).digest())
                total += count
            if len(hashes) > _MAX_CHUNKS:
                raise SnapshotError(f"{len(hashes)} chunks exceed ABCI's uint32: raise chunk_bytes")
            write_synced(tmp / _METADATA, SnapshotMetadata(height, app_hash, total, tuple(hashes)).encode())
            fsync_directory(tmp)
            os.rename(tmp, self.directory / name)
            fsync_directory(self.directory)
        except Exception:
            log.exception("snapshot of height %d failed", height)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            reader.close()
        log.info("snapshot of height %d written: %d entries in %d chunks", height, total, len(hashes))
        self._prune()

    def _prune(self) -> None:
        """Keep the `keep_recent` newest snapshots (rename first, so a listed one is always whole)."""
        if self.keep_recent == 0:
            return
        names = sorted(p.name for p in self.directory.iterdir() if _DIR_RE.fullmatch(p.name))
        for name in names[: -self.keep_recent]:
            trash = self.directory / (_TRASH + name)
            try:
                os.rename(self.directory / name, trash)
            except OSError:
                log.exception("could not prune snapshot %s", name)
                continue
            shutil.rmtree(trash, ignore_errors=True)

    # --- restoring (called on the snapshot connection of a node that state-syncs) ---------------

    def offer(self, snapshot: SnapshotInfo, trusted_app_hash: bytes) -> int:
        """Accept a snapshot whose metadata is well formed and agrees with the trusted app hash."""
        self._restore = None
        if self.store.height != 0:
            log.error(
                "state sync offered a snapshot, but this node has committed height %d", self.store.height
            )
            return OfferResult.ABORT
        if snapshot.format != FORMAT:
            return OfferResult.REJECT_FORMAT
        try:
            if not 0 < snapshot.chunks <= _MAX_RESTORE_CHUNKS:
                raise SnapshotError(f"{snapshot.chunks} chunks: a restore takes 1..{_MAX_RESTORE_CHUNKS}")
            meta = SnapshotMetadata.decode(snapshot.metadata)
            _check_offer_bounds(meta)
        except SnapshotError as e:
            log.warning("snapshot at height %d rejected: %s", snapshot.height, e)
            return OfferResult.REJECT
        if (
            meta.height != snapshot.height
            or meta.app_hash != trusted_app_hash  # early out: the rebuilt root is checked regardless
            or len(meta.chunk_hashes) != snapshot.chunks
            or compute_snapshot_hash(meta.chunk_hashes) != snapshot.hash
        ):
            log.warning("snapshot at height %d rejected: metadata disagrees with the offer", snapshot.height)
            return OfferResult.REJECT
        wipe_uncommitted_state(self.store)
        self._restore = _Restore(snapshot, meta, trusted_app_hash)
        return OfferResult.ACCEPT

    def apply_chunk(self, index: int, chunk: bytes, sender: str) -> tuple[int, list[int], list[str]]:
        """Verify and apply the next chunk; after the last, rebuild the tree and commit the height."""
        restore = self._restore
        if restore is None:
            log.error("snapshot chunk %d arrived with no accepted offer", index)
            return ChunkResult.ABORT, [], []
        try:
            result = self._apply_chunk(restore, index, chunk, sender)
        except SnapshotError as e:
            log.warning("snapshot at height %d rejected: %s", restore.info.height, e)
            self._abandon_restore()
            # Chunks come only from peers that advertise the snapshot, and an honest node advertises
            # only its own, which are valid: the sender served a bad one.
            return ChunkResult.REJECT_SNAPSHOT, [], [sender] if sender else []
        except Exception:
            log.exception("restoring snapshot at height %d failed", restore.info.height)
            self._abandon_restore()
            return ChunkResult.ABORT, [], []
        restored = result[0] == ChunkResult.ACCEPT and self._restore is None
        if restored and self._on_restored is not None:
            self._on_restored()
        return result

    def _apply_chunk(
        self, restore: _Restore, index: int, chunk: bytes, sender: str
    ) -> tuple[int, list[int], list[str]]:
        """Apply chunk `index` (CometBFT sends them in order, again after a RETRY)."""
        hashes = restore.meta.chunk_hashes
        if not 0 <= index < len(hashes):
            raise SnapshotError(f"chunk index {index} outside 0..{len(hashes) - 1}")
        if index < restore.next_index:
            return ChunkResult.ACCEPT, [], []  # already applied: a refetch of an earlier chunk
        if index > restore.next_index:
            self._abandon_restore()
            return ChunkResult.RETRY_SNAPSHOT, [], []
        if hashlib.sha256(chunk).digest() != hashes[index]:
            log.warning("snapshot chunk %d from %r does not match its hash: refetching", index, sender)
            return ChunkResult.RETRY, [index], [sender] if sender else []
        _write_records(self.store, restore, iter_records(chunk))
        restore.next_index += 1
        if restore.next_index == len(hashes):
            self._finish_restore(restore)
        return ChunkResult.ACCEPT, [], []

    def _finish_restore(self, restore: _Restore) -> None:
        """Rebuild the tree from the restored values; commit only if its root is the trusted hash."""
        if restore.entries != restore.meta.entries:
            raise SnapshotError(f"snapshot holds {restore.entries} entries, declares {restore.meta.entries}")
        root = rebuild_tree(self.store)
        if root != restore.trusted_app_hash:
            raise SnapshotError(
                f"rebuilt app hash {root.hex()} is not the trusted {restore.trusted_app_hash.hex()}"
            )
        commit_restored_state(self.store, restore.info.height, root)
        self._restore = None
        log.info("restored height %d from a snapshot (%d entries)", restore.info.height, restore.entries)

    def _abandon_restore(self) -> None:
        """Forget the restore and remove whatever it wrote (never touches committed state)."""
        self._restore = None
        if self.store.height == 0:
            wipe_uncommitted_state(self.store)
