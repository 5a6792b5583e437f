"""State-sync snapshots on LevelDB: take, list, serve, restore into a fresh app, and every rejection."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.state import snapshots
from app.state.backend import LevelDBBackend
from app.state.snapshots import (
    FORMAT,
    ChunkResult,
    OfferResult,
    SnapshotInfo,
    SnapshotManager,
    SnapshotMetadata,
    decode_chunk,
    iter_chunks,
)
from tendermint.abci import types_pb2 as abci
from tests.integration import harness

BALANCES = {"alice": 10**12, "bob": 10**12}
ALICE, BOB = harness.test_key("alice").address, harness.test_key("bob").address
SMALL_CHUNKS = 300  # bytes: forces several chunks out of a few dozen state entries


def _txs(chain: harness.Chain, height: int) -> list[bytes]:
    """Block `height` (>= 2): transfers both ways and two fresh accounts; depends only on height."""
    return [
        chain.send("alice", BOB, height, sequence=3 * (height - 2)),
        chain.send("alice", harness.test_key(f"r{height}-0").address, 5, sequence=3 * (height - 2) + 1),
        chain.send("alice", harness.test_key(f"r{height}-1").address, 7, sequence=3 * (height - 2) + 2),
        chain.send("bob", ALICE, 1, sequence=height - 2),
    ]


def _chain(path: Path) -> harness.Chain:
    return harness.Chain(backend=LevelDBBackend(path))


def _grow(
    chain: harness.Chain, manager: SnapshotManager | None, up_to: int, *, wait: bool = True
) -> dict[int, bytes]:
    """Commit blocks up to `up_to` (init first if empty), snapshotting after each Commit.

    With `wait`, each snapshot is finished before the next block (a snapshot requested while the
    previous one is still being written is skipped, which would make the heights timing-dependent).
    """
    hashes = {}
    if chain.app.store.height == 0:
        chain.init(BALANCES)
        hashes[1] = chain.app.store.app_hash
        _snapshot(manager, 1, wait)
    for h in range(chain.app.store.height + 1, up_to + 1):
        chain.block(_txs(chain, h))
        hashes[h] = chain.app.store.app_hash
        _snapshot(manager, h, wait)
    return hashes


def _snapshot(manager: SnapshotManager | None, height: int, wait: bool) -> None:
    """What the lead's Commit handler does after app.commit()."""
    if manager is not None:
        manager.maybe_snapshot(height)
        if wait:
            manager.wait()


def _chunks(manager: SnapshotManager, info: SnapshotInfo) -> list[bytes]:
    return [manager.load_chunk(info.height, info.format, i) for i in range(info.chunks)]


def _restore(
    target: SnapshotManager, info: SnapshotInfo, chunks: list[bytes], trusted: bytes
) -> list[tuple[int, list[int], list[str]]]:
    """Offer then apply every chunk, as CometBFT's syncer does; return each apply's answer."""
    assert target.offer(info, trusted) == OfferResult.ACCEPT
    return [target.apply_chunk(i, chunk, "peer-a") for i, chunk in enumerate(chunks)]


def _state_keys(chain: harness.Chain) -> list[bytes]:
    return [
        k for prefix in (b"s", b"n", b"r", b"m", b"o", b"g", b"x") for k, _ in chain.backend.iterate(prefix)
    ]


@pytest.fixture
def source(tmp_path: Path):
    """A LevelDB chain at height 6 with a snapshot of height 6 (interval 3, several chunks)."""
    chain = _chain(tmp_path / "src-db")
    with ThreadPoolExecutor(max_workers=1) as pool:
        manager = SnapshotManager(
            tmp_path / "src-snap", chain.app.store, interval=3, chunk_bytes=SMALL_CHUNKS, executor=pool
        )
        hashes = _grow(chain, manager, 6)
        manager.wait()
    yield chain, manager, hashes
    chain.backend.close()


@pytest.fixture
def target(tmp_path: Path):
    """A fresh node: an app on an empty LevelDB (state sync runs before any InitChain)."""
    chain = _chain(tmp_path / "dst-db")
    yield chain, SnapshotManager(tmp_path / "dst-snap", chain.app.store, interval=0)
    chain.backend.close()


def test_result_values_are_the_abci_enums() -> None:
    for member in OfferResult:
        assert member == abci.ResponseOfferSnapshot.Result.Value(member.name)
    for member in ChunkResult:
        assert member == abci.ResponseApplySnapshotChunk.Result.Value(member.name)


def test_snapshot_is_listed_and_served(source) -> None:
    chain, manager, hashes = source
    infos = manager.list_snapshots()
    assert [(s.height, s.format) for s in infos] == [(6, FORMAT), (3, FORMAT)]
    info = infos[0]
    meta = SnapshotMetadata.decode(info.metadata)
    assert meta.height == 6 and meta.app_hash == hashes[6]
    assert info.chunks == len(meta.chunk_hashes) > 1
    records = [r for chunk in _chunks(manager, info) for r in decode_chunk(chunk)]
    assert records == [(k[1:], v) for k, v in chain.backend.iterate(b"s")]  # nothing changed since 6
    assert meta.entries == len(records)
    assert manager.load_chunk(6, FORMAT, info.chunks) == b""
    assert manager.load_chunk(5, FORMAT, 0) == b""
    assert manager.load_chunk(6, 2, 0) == b""


@pytest.mark.parametrize("rebuild_batch", [5, 65_536])
def test_restore_into_fresh_app_then_follow_the_chain(source, target, monkeypatch, rebuild_batch) -> None:
    monkeypatch.setattr(snapshots, "_REBUILD_BATCH", rebuild_batch)  # 5: the tree grows over batches
    src, src_manager, hashes = source
    dst, dst_manager = target
    info = src_manager.list_snapshots()[0]
    answers = _restore(dst_manager, info, _chunks(src_manager, info), hashes[6])
    assert answers == [(ChunkResult.ACCEPT, [], [])] * info.chunks

    dst_info = dst.abci.info(abci.RequestInfo())
    src_info = src.abci.info(abci.RequestInfo())
    assert (dst_info.last_block_height, dst_info.last_block_app_hash) == (6, hashes[6])
    assert (dst_info.last_block_height, dst_info.last_block_app_hash) == (
        src_info.last_block_height,
        src_info.last_block_app_hash,
    )
    # What the lead's on_restored hook must do: re-read cached committed state (the chain id).
    follower = harness.Chain(backend=dst.backend)
    for h in (7, 8, 9):
        txs = _txs(src, h)
        src_result, dst_result = src.block(txs), follower.block(txs)
        assert [r.code for r in dst_result.tx_results] == [0] * len(txs)
        assert dst_result.app_hash == src_result.app_hash


def test_on_restored_runs_once_after_the_last_chunk(source, tmp_path: Path) -> None:
    _, src_manager, hashes = source
    dst = _chain(tmp_path / "hooked-db")
    calls: list[int] = []
    manager = SnapshotManager(
        tmp_path / "hooked-snap", dst.app.store, 0, on_restored=lambda: calls.append(dst.app.store.height)
    )
    info = src_manager.list_snapshots()[0]
    chunks = _chunks(src_manager, info)
    assert manager.offer(info, hashes[6]) == OfferResult.ACCEPT
    for i, chunk in enumerate(chunks):
        assert calls == []
        manager.apply_chunk(i, chunk, "peer-a")
    assert calls == [6]
    dst.backend.close()


def test_tampered_chunk_is_refetched_from_another_peer(source, target) -> None:
    _, src_manager, hashes = source
    dst, dst_manager = target
    info = src_manager.list_snapshots()[0]
    chunks = _chunks(src_manager, info)
    assert dst_manager.offer(info, hashes[6]) == OfferResult.ACCEPT
    assert dst_manager.apply_chunk(0, chunks[0], "peer-a") == (ChunkResult.ACCEPT, [], [])
    bad = bytearray(chunks[1])
    bad[-1] ^= 1
    assert dst_manager.apply_chunk(1, bytes(bad), "peer-b") == (ChunkResult.RETRY, [1], ["peer-b"])
    answers = [dst_manager.apply_chunk(i, chunks[i], "peer-a") for i in range(1, info.chunks)]
    assert answers == [(ChunkResult.ACCEPT, [], [])] * (info.chunks - 1)
    assert dst.app.info() == (6, hashes[6])


def test_wrong_trusted_app_hash_is_rejected_at_offer(source, target) -> None:
    _, src_manager, hashes = source
    dst, dst_manager = target
    info = src_manager.list_snapshots()[0]
    assert dst_manager.offer(info, hashes[5]) == OfferResult.REJECT
    assert dst.app.info()[0] == 0


def test_lying_metadata_fails_the_rebuilt_root_and_leaves_the_target_empty(source, target) -> None:
    """A peer claims the trusted hash in its metadata; the rebuilt tree's root gives it away."""
    _, src_manager, hashes = source
    dst, dst_manager = target
    info = src_manager.list_snapshots()[0]
    wrong = hashes[5]
    meta = dataclasses.replace(SnapshotMetadata.decode(info.metadata), app_hash=wrong)
    lying = dataclasses.replace(info, metadata=meta.encode())  # the snapshot hash covers chunks only
    answers = _restore(dst_manager, lying, _chunks(src_manager, info), wrong)
    assert answers[:-1] == [(ChunkResult.ACCEPT, [], [])] * (info.chunks - 1)
    assert answers[-1] == (ChunkResult.REJECT_SNAPSHOT, [], ["peer-a"])
    assert dst.abci.info(abci.RequestInfo()).last_block_height == 0
    assert _state_keys(dst) == []
    assert dst_manager.apply_chunk(0, b"", "peer-a")[0] == ChunkResult.ABORT  # the restore is over


def test_offer_rejections(source, target) -> None:
    _, src_manager, hashes = source
    _, dst_manager = target
    info = src_manager.list_snapshots()[0]
    assert dst_manager.offer(dataclasses.replace(info, format=2), hashes[6]) == OfferResult.REJECT_FORMAT
    for metadata in (b"", b"garbage", info.metadata[:-1], info.metadata + b"\x00"):
        assert (
            dst_manager.offer(dataclasses.replace(info, metadata=metadata), hashes[6]) == OfferResult.REJECT
        )
    for lie in ({"hash": bytes(32)}, {"chunks": info.chunks + 1}, {"height": 7}):
        assert dst_manager.offer(dataclasses.replace(info, **lie), hashes[6]) == OfferResult.REJECT


def test_offer_to_a_node_with_state_aborts(source) -> None:
    src, src_manager, hashes = source
    assert src_manager.offer(src_manager.list_snapshots()[0], hashes[6]) == OfferResult.ABORT
    assert src.app.info() == (6, hashes[6])


def test_interrupted_restore_is_wiped_at_start_up(source, target, tmp_path: Path) -> None:
    _, src_manager, hashes = source
    dst, dst_manager = target
    info = src_manager.list_snapshots()[0]
    assert dst_manager.offer(info, hashes[6]) == OfferResult.ACCEPT
    dst_manager.apply_chunk(0, src_manager.load_chunk(6, FORMAT, 0), "peer-a")
    assert _state_keys(dst) != []  # the process dies here
    SnapshotManager(tmp_path / "dst-snap", dst.app.store, interval=0)
    assert _state_keys(dst) == []


def test_two_nodes_produce_byte_identical_snapshots(tmp_path: Path) -> None:
    managers = []
    for name in ("a", "b"):
        chain = _chain(tmp_path / f"{name}-db")
        manager = SnapshotManager(tmp_path / f"{name}-snap", chain.app.store, 4, chunk_bytes=SMALL_CHUNKS)
        _grow(chain, manager, 8)
        managers.append(manager)
        chain.backend.close()
    a, b = (m.list_snapshots() for m in managers)
    assert [s.height for s in a] == [8, 4]
    assert a == b
    for info in a:
        assert _chunks(managers[0], info) == _chunks(managers[1], info)


def test_pruning_keeps_the_most_recent(tmp_path: Path) -> None:
    chain = _chain(tmp_path / "db")
    manager = SnapshotManager(tmp_path / "snap", chain.app.store, interval=2, keep_recent=3)
    _grow(chain, manager, 11)
    assert [s.height for s in manager.list_snapshots()] == [10, 8, 6]
    assert sorted(p.name for p in (tmp_path / "snap").iterdir()) == [f"{h:020d}.{FORMAT}" for h in (6, 8, 10)]
    disabled = SnapshotManager(tmp_path / "off", chain.app.store, interval=0)
    disabled.maybe_snapshot(chain.app.store.height)
    assert disabled.list_snapshots() == []
    chain.backend.close()


class _GatedExecutor:
    """A real worker thread whose jobs wait for a gate: proves maybe_snapshot does not wait for them."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        self.gate = threading.Event()

    def submit(self, fn: Callable[[], None], /) -> Future:
        def gated() -> None:
            assert self.gate.wait(timeout=60), "the test never opened the gate"
            fn()

        return self.pool.submit(gated)


def test_commit_is_not_blocked_and_the_view_is_frozen_at_call_time(tmp_path: Path, target) -> None:
    chain = _chain(tmp_path / "db")
    with ThreadPoolExecutor(max_workers=1) as pool:
        executor = _GatedExecutor(pool)
        manager = SnapshotManager(tmp_path / "snap", chain.app.store, interval=3, executor=executor)
        hashes = _grow(chain, manager, 3, wait=False)
        assert manager.list_snapshots() == []  # maybe_snapshot(3) returned; its job has not run
        hashes.update(_grow(chain, None, 5))  # Commits go on while the snapshot waits
        executor.gate.set()
        manager.wait()
    (info,) = manager.list_snapshots()
    assert SnapshotMetadata.decode(info.metadata).app_hash == hashes[3] != hashes[5]
    dst, dst_manager = target
    answers = _restore(dst_manager, info, _chunks(manager, info), hashes[3])
    assert answers[-1] == (ChunkResult.ACCEPT, [], [])  # the rebuilt root is height 3's
    assert dst.app.info() == (3, hashes[3])
    chain.backend.close()


_entries = st.dictionaries(st.binary(max_size=40), st.binary(max_size=200), max_size=60).map(
    lambda d: sorted(d.items())
)


@given(entries=_entries, chunk_bytes=st.integers(min_value=1, max_value=2_000))
def test_chunks_round_trip(entries: list[tuple[bytes, bytes]], chunk_bytes: int) -> None:
    chunks = list(iter_chunks(entries, chunk_bytes))
    assert len(chunks) >= 1
    assert [r for chunk, _ in chunks for r in decode_chunk(chunk)] == entries
    assert sum(n for _, n in chunks) == len(entries)
    assert chunks == list(iter_chunks(entries, chunk_bytes))


@given(
    height=st.integers(0, 2**64 - 1),
    entries=st.integers(0, 2**64 - 1),
    hashes=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=5),
)
def test_metadata_round_trip(height: int, entries: int, hashes: list[bytes]) -> None:
    meta = SnapshotMetadata(height, bytes(range(32)), entries, tuple(hashes))
    assert SnapshotMetadata.decode(meta.encode()) == meta


def test_a_directory_name_with_a_final_newline_is_no_snapshot(source) -> None:
    _chain, manager, _hashes = source
    newest = manager.directory / f"{6:020d}.{FORMAT}"
    newest.rename(newest.with_name(newest.name + "\n"))  # `$` matched before the newline
    assert [s.height for s in manager.list_snapshots()] == [3]
