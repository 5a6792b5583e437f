"""Pruning through the ABCI handlers: ResponseCommit.retain_height, pruned trees on LevelDB, the
golden app hashes, and crash recovery with pruning in the Commit batch."""

from __future__ import annotations

from pathlib import Path

from app.abci.handlers import compute_retain_height
from app.core.codec import from_u64be
from app.state import smt
from app.state.backend import LevelDBBackend
from app.state.snapshots import SnapshotManager
from app.state.store import NODE_PREFIX, ROOT_PREFIX, STATE_PREFIX
from tendermint.abci import types_pb2 as abci
from tests.integration import harness
from tests.integration.test_recovery import BALANCES, _reference, scenario_block


def _commit_block(chain: harness.Chain) -> abci.ResponseCommit:
    """FinalizeBlock of the scenario's next block, then Commit; the Commit answer."""
    chain.finalize(scenario_block(chain, chain.app.store.height + 1))
    return chain.abci.commit(abci.RequestCommit())


def _kept_roots(chain: harness.Chain) -> dict[int, bytes]:
    return {from_u64be(k[1:]): v for k, v in chain.backend.iterate(ROOT_PREFIX)}


def _check_prunes_to_kept_roots(chain: harness.Chain) -> None:
    """Every state key proves against every kept root's tree, and no stored node is unreachable."""
    read = lambda h: chain.backend.get(NODE_PREFIX + h)  # noqa: E731
    reachable: set[bytes] = set()
    for root in _kept_roots(chain).values():
        todo = [root]
        while todo:
            node_hash = todo.pop()
            if node_hash == smt.EMPTY or node_hash in reachable:
                continue
            reachable.add(node_hash)
            node = read(node_hash)
            assert node is not None
            if node[0] == 1:
                todo += [node[1:33], node[33:]]
    stored = {k[1:] for k, _ in chain.backend.iterate(NODE_PREFIX)}
    assert stored == reachable
    for key, value in chain.backend.iterate(STATE_PREFIX):
        proof = smt.prove(chain.app.store.app_hash, smt.hash_key(key[1:]), read)
        smt.verify_membership(chain.app.store.app_hash, key[1:], value, proof)


def test_retain_height_is_zero_by_default_and_keeps_the_last_n_blocks_when_set() -> None:
    chain = harness.Chain()
    chain.init(BALANCES)
    assert _commit_block(chain).retain_height == 0  # AbciHandlers' default: keep every block
    chain.abci.retain_blocks = 3
    answers = [_commit_block(chain).retain_height for _ in range(5)]
    # Commit of heights 3..7 with 3 kept: CometBFT keeps H-2..H.
    assert answers == [1, 2, 3, 4, 5]


def test_retain_height_never_passes_the_oldest_snapshot_served(tmp_path: Path) -> None:
    chain = harness.Chain()
    chain.abci.snapshots = SnapshotManager(tmp_path / "snap", chain.app.store, interval=4, keep_recent=2)
    chain.abci.retain_blocks = 2
    chain.init(BALANCES)
    answers = {}
    for _ in range(12):
        resp = _commit_block(chain)
        answers[chain.app.store.height] = resp.retain_height
    # No snapshot before height 4: the last 2 blocks. From 4 on, never above the oldest kept
    # snapshot (4, then 4 and 8 kept, then 8 and 12).
    assert answers[2] == 1 and answers[3] == 2
    assert [answers[h] for h in range(4, 12)] == [3, 4, 4, 4, 4, 4, 4, 4]
    assert answers[12] == 8
    assert sorted(s.height for s in chain.abci.snapshots.list_snapshots()) == [8, 12]


def test_compute_retain_height_rule() -> None:
    assert compute_retain_height(10, 0, None) == 0  # 0 keeps every block
    assert compute_retain_height(10, 0, 3) == 0
    assert compute_retain_height(10, 4, None) == 7
    assert compute_retain_height(10, 4, 5) == 5
    assert compute_retain_height(10, 4, 9) == 7
    assert compute_retain_height(3, 100, None) == 0  # younger than the window: keep everything


def test_pruning_keeps_the_golden_hashes_and_the_kept_trees_on_leveldb(tmp_path: Path) -> None:
    reference = _reference(12)  # MemoryBackend, default keep_recent
    chain = harness.Chain(backend=LevelDBBackend(tmp_path / "db"))
    chain.app.store.set_keep_recent(3)
    chain.init(BALANCES)
    for _ in range(11):
        _commit_block(chain)
    assert {h: chain.app.store.root_at(h) for h in range(1, 13)} == {
        h: reference[h] if h >= 10 else None for h in range(1, 13)
    }
    _check_prunes_to_kept_roots(chain)
    chain.backend.close()


def test_a_crash_before_a_pruning_commit_replays_to_the_same_state(tmp_path: Path) -> None:
    path = tmp_path / "db"
    reference = _reference(9)
    chain = harness.Chain(backend=LevelDBBackend(path))
    chain.app.store.set_keep_recent(2)
    chain.init(BALANCES)
    for _ in range(5):
        _commit_block(chain)
    chain.finalize(scenario_block(chain, 7))  # staged, with pruning planned; the process dies
    chain.backend.close()

    revived = harness.Chain(backend=LevelDBBackend(path))
    revived.app.store.set_keep_recent(2)
    assert revived.app.info() == (6, reference[6])
    assert sorted(_kept_roots(revived)) == [5, 6]
    _check_prunes_to_kept_roots(revived)
    for h in (7, 8, 9):
        assert revived.block(scenario_block(revived, h)).app_hash == reference[h]
    assert sorted(_kept_roots(revived)) == [8, 9]
    _check_prunes_to_kept_roots(revived)
    revived.backend.close()
