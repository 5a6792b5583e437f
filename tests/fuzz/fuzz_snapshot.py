"""Fuzz target `snapshot`: state-sync offers and chunks from a hostile peer, into a fresh node.

Only public entry points: decode_chunk, SnapshotMetadata, SnapshotManager.offer / apply_chunk (the
restore behind them may change). The real snapshot is the shared chain's committed state, taken once
with small chunks. An input is an offer (the real one, one with fields edited, or fuzzed metadata
that lists the hashes of the chunks it will send, so chunk contents get past the hash check) and a
sequence of chunk deliveries (index, real or fuzzed bytes).

Invariants: nothing raises; results are OfferResult / ChunkResult values; and a restore that
commits has committed exactly the source state at the offered height and the trusted app hash
(a different state would need a SHA-256 collision, so any other commit is a bug).
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import atheris

from app.state.backend import MemoryBackend
from app.state.snapshots import (
    ChunkResult,
    OfferResult,
    SnapshotError,
    SnapshotInfo,
    SnapshotManager,
    SnapshotMetadata,
    compute_snapshot_hash,
    decode_chunk,
)
from app.state.store import CommitStore
from tests.fuzz.chain import get_chain

__all__ = ["test_one_input"]

_OFFERS, _CHUNKS = set(OfferResult), set(ChunkResult)


@dataclass(frozen=True)
class _Source:
    """The real snapshot and the state it holds."""

    info: SnapshotInfo
    chunks: list[bytes]
    app_hash: bytes
    state: dict[bytes, bytes]
    directory: Path


def _state(store: CommitStore) -> dict[bytes, bytes]:
    """Every committed state entry."""
    return dict(store.view.iterate(b""))


@functools.cache
def _source() -> _Source:
    """Snapshot the shared chain once, in 2 KiB chunks."""
    chain = get_chain()
    store = chain.app.store
    directory = Path(tempfile.mkdtemp(prefix="synod-fuzz-snapshot-"))
    maker = SnapshotManager(directory / "source", store, interval=1, chunk_bytes=2048)
    maker.maybe_snapshot(store.height)
    maker.wait()
    info = maker.list_snapshots()[0]
    chunks = [maker.load_chunk(info.height, info.format, i) for i in range(info.chunks)]
    return _Source(info, chunks, store.app_hash, _state(store), directory / "restore")


def _offer(fdp: atheris.FuzzedDataProvider, src: _Source) -> tuple[SnapshotInfo, bytes, list[bytes]]:
    """The offer, the trusted app hash and the chunks this peer will send."""
    mode = fdp.ConsumeIntInRange(0, 3)
    chunks = list(src.chunks)
    trusted = fdp.ConsumeBytes(32) if fdp.ConsumeIntInRange(0, 7) == 7 else src.app_hash
    if mode == 0:
        return src.info, trusted, chunks
    if mode == 1:  # fuzzed chunks, listed honestly in the metadata
        for _ in range(fdp.ConsumeIntInRange(0, 3)):
            at = fdp.ConsumeIntInRange(0, len(chunks))
            chunks[at : at + fdp.ConsumeIntInRange(0, 1)] = [fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 256))]
        chunks = chunks or [b""]
        hashes = tuple(hashlib.sha256(c).digest() for c in chunks)
        meta = SnapshotMetadata(src.info.height, src.app_hash, fdp.ConsumeIntInRange(0, 1 << 16), hashes)
        raw = meta.encode()
        return (
            SnapshotInfo(src.info.height, 1, len(chunks), compute_snapshot_hash(hashes), raw),
            trusted,
            chunks,
        )
    if mode == 2:  # fuzzed metadata bytes, over a real header now and then
        raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200))
        if fdp.ConsumeBool():
            raw = src.info.metadata[: fdp.ConsumeIntInRange(0, len(src.info.metadata))] + raw
        return (
            SnapshotInfo(src.info.height, 1, fdp.ConsumeIntInRange(0, 8), fdp.ConsumeBytes(32), raw),
            trusted,
            chunks,
        )
    info = SnapshotInfo(
        fdp.ConsumeIntInRange(0, 2**64 - 1) if fdp.ConsumeBool() else src.info.height,
        fdp.ConsumeIntInRange(0, 3),
        fdp.ConsumeIntInRange(0, 2**32 - 1) if fdp.ConsumeBool() else src.info.chunks,
        src.info.hash,
        src.info.metadata,
    )
    return info, trusted, chunks


def _check_decode(data: bytes) -> None:
    """decode_chunk: records or SnapshotError."""
    try:
        records = decode_chunk(data)
    except SnapshotError:
        return
    assert all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in records)


def _deliver(
    fdp: atheris.FuzzedDataProvider, manager: SnapshotManager, store: CommitStore, chunks: list[bytes]
) -> None:
    """Send chunks in order, as CometBFT does, with fuzzed indexes and bytes now and then."""
    sent = 0
    for _ in range(len(chunks) + fdp.ConsumeIntInRange(0, 4)):
        index, chunk = min(sent, len(chunks) - 1), chunks[min(sent, len(chunks) - 1)]
        if fdp.ConsumeIntInRange(0, 7) == 7:
            index = fdp.ConsumeIntInRange(-1, len(chunks) + 1)
            chunk = chunks[index] if 0 <= index < len(chunks) else fdp.ConsumeBytes(64)
        if fdp.ConsumeIntInRange(0, 15) == 15:
            chunk = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 256))
        result, refetch, reject = manager.apply_chunk(index, chunk, "peer")
        assert result in _CHUNKS, f"apply_chunk answered {result}"
        assert all(isinstance(i, int) for i in refetch) and all(isinstance(s, str) for s in reject)
        if result == ChunkResult.ACCEPT and index == sent:
            sent += 1
        if store.height:
            return


def test_one_input(data: bytes) -> None:
    """One offer and up to a dozen chunk deliveries into a fresh node."""
    fdp = atheris.FuzzedDataProvider(data)
    src = _source()
    if fdp.ConsumeIntInRange(0, 3) == 0:
        _check_decode(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 1024)))
    info, trusted, chunks = _offer(fdp, src)
    store = CommitStore(MemoryBackend())
    manager = SnapshotManager(src.directory, store, interval=0)
    offered = manager.offer(info, trusted)
    assert offered in _OFFERS, f"offer answered {offered}"
    _deliver(fdp, manager, store, chunks)
    if store.height:
        assert trusted == src.app_hash and store.app_hash == src.app_hash, "committed an untrusted app hash"
        assert store.height == src.info.height, f"restored height {store.height}, offered {src.info.height}"
        assert _state(store) == src.state, "restored a state other than the snapshot's"
