"""The tasks module through the ABCI handlers: a full lifecycle, payouts, and every rejection."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from app.core.crypto import decode_address
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT
from app.modules.tasks import logic
from app.modules.tasks.keeper import TASKS_ESCROW
from synod.tasks.v1 import query_pb2, tasks_pb2
from tests.integration.harness import test_key
from tests.integration.tasks_harness import SIZE, TaskChain, initial_weights, update_vector

FUNDS = {"alice": 10**9, "bob": 10**9, "carol": 10**9, "dave": 10**9, "erin": 10**9}
WORKERS = ("bob", "carol", "dave")


@pytest.fixture
def tc() -> TaskChain:
    tc = TaskChain()
    tc.chain.init(FUNDS)
    return tc


def _ok(resp, index: int = 0) -> None:  # noqa: ANN001
    result = resp.tx_results[index]
    assert result.code == 0, result.log


def _code(resp, codespace: str, code: int, index: int = 0) -> str:  # noqa: ANN001
    result = resp.tx_results[index]
    assert (result.codespace, result.code) == (codespace, code), result.log
    return result.log


def _start(tc: TaskChain, workers: tuple[str, ...] = WORKERS, **overrides: object) -> tasks_pb2.Task:
    """Post task 1 and have workers join in the same block; returns the task."""
    _ok(tc.run(tc.post(**overrides)))
    resp = tc.run(*[tc.join(w) for w in workers])
    for i in range(len(workers)):
        _ok(resp, i)
    return tc.task()


def _reference_round(weights: np.ndarray, updates: dict[str, tuple[np.ndarray, int]]) -> np.ndarray:
    """The chain's mean step computed independently: floor of the sample-weighted mean, shifted, clipped."""
    total = sum(samples for _, samples in updates.values())
    summed = sum(vector.astype(object) * samples for vector, samples in updates.values())
    mean = np.array([value // total for value in summed], dtype=np.int64)
    return np.clip(weights + (mean << 4), -WEIGHT_FORMAT.bound, WEIGHT_FORMAT.bound)


def _play_round(
    tc: TaskChain,
    task: tasks_pb2.Task,
    round_: int,
    revealers: tuple[str, ...],
    workers: tuple[str, ...] = WORKERS,
) -> dict:
    """Every worker commits; revealers reveal; the round closes. Returns what was revealed."""
    tc.advance_to_phase(logic.COMMIT, round_)
    plan = {w: (update_vector(100 * round_ + i), 50 + 10 * i) for i, w in enumerate(workers)}
    resp = tc.run(*[tc.commit(w, round_, *plan[w]) for w in workers])
    for i in range(len(workers)):
        _ok(resp, i)
    tc.advance_to_phase(logic.REVEAL, round_)
    resp = tc.run(*[tc.reveal(w, round_) for w in revealers])
    for i in range(len(revealers)):
        _ok(resp, i)
    tc.advance_past_round(round_)
    return {w: plan[w] for w in revealers}


def test_full_lifecycle_aggregates_each_round_pays_and_returns_stakes(tc: TaskChain) -> None:
    before = {name: tc.chain.balance(test_key(name).address) for name in FUNDS}
    task = _start(tc)
    # Joins landed in the last join block, whose end-block started round 1.
    assert task.status == tasks_pb2.TASK_STATUS_RUNNING and task.worker_count == 3
    weights = initial_weights()
    # dave withholds in round 2: the round closes without him and he earns one update less.
    for round_, revealers in ((1, WORKERS), (2, ("bob", "carol")), (3, WORKERS)):
        revealed = _play_round(tc, task, round_, revealers)
        weights = _reference_round(weights, revealed)
        record = tc.app.tasks.get_round(tc.app.store.view, 1, round_)
        assert record.outcome == tasks_pb2.ROUND_OUTCOME_AGGREGATED
        assert record.model_hash == hashlib.sha256(WEIGHT_FORMAT.encode(weights)).digest()
        assert list(record.accepted_workers) == sorted(
            (test_key(w).address for w in revealers), key=decode_address
        )
        assert (record.committed, record.revealed) == (3, len(revealers))
        # The round's commitments, reveals and payloads are gone; only the checkpoint stays.
        assert not list(tc.app.tasks.iterate_reveals(tc.app.store.view, 1, round_))
    task = tc.task()
    assert task.status == tasks_pb2.TASK_STATUS_FINISHED and task.rounds_done == 3
    assert tc.participant("dave").missed_reveals == 1
    # dave's commitment that was never revealed cost him missed_reveal_slash_bps of his stake, burnt.
    slash = 1000 * tc.app.tasks.get_params(tc.app.store.view).missed_reveal_slash_bps // 10_000
    assert slash > 0 and tc.participant("dave").slashed == str(slash)
    # 9001 split 3:3:2 by accepted updates, floored; the remainder returns to alice; stakes come back.
    shares = {"bob": 9001 * 3 // 8, "carol": 9001 * 3 // 8, "dave": 9001 * 2 // 8}
    slashed = {"bob": 0, "carol": 0, "dave": slash}
    for name, share in shares.items():
        expected = before[name] - tc.chain.fees_paid[name] + share - slashed[name]
        assert tc.chain.balance(test_key(name).address) == expected
    remainder = 9001 - sum(shares.values())
    assert remainder == 1
    alice = tc.chain.balance(test_key("alice").address)
    assert alice == before["alice"] - tc.chain.fees_paid["alice"] - 9001 + remainder
    escrow = tc.app.bank.module_account(TASKS_ESCROW)
    assert tc.app.bank.get_all_balances(tc.app.store.view, escrow) == ()


# --- rejections: each with its registered code; nothing is written --------------------------------


def test_impossible_task_parameters_are_rejected_with_the_reason(tc: TaskChain) -> None:
    cases = [
        ({"model": tasks_pb2.ModelSpec(arch="cnn", n_features=8, n_classes=3)}, "unknown architecture"),
        ({"min_workers": 4, "max_workers": 3}, "min_workers <= max_workers"),
        (
            {"schedule": tasks_pb2.Schedule(rounds=0, join_blocks=1, commit_blocks=1, reveal_blocks=1)},
            "rounds",
        ),
        (
            {"schedule": tasks_pb2.Schedule(rounds=1, join_blocks=1, commit_blocks=0, reveal_blocks=1)},
            "commit",
        ),
        (
            {"schedule": tasks_pb2.Schedule(rounds=1, join_blocks=1, commit_blocks=1, reveal_blocks=20_000)},
            "phases",
        ),
        ({"aggregation": tasks_pb2.Aggregation(rule="magic")}, "unknown aggregation rule"),
        (
            {
                "aggregation": tasks_pb2.Aggregation(
                    rule="krum", params=[tasks_pb2.AggregationParam(name="byzantine", value=2)]
                )
            },
            "min_workers",
        ),
        ({"initial_weights": b"\x00" * 12}, "initial_weights"),
        ({"max_workers": 1000}, "max_workers"),
    ]
    for overrides, reason in cases:
        resp = tc.run(tc.post(**overrides))
        log = _code(resp, "tasks", 2)
        assert reason in log, (overrides, log)
    assert tc.app.tasks.get_task(tc.app.store.view, 1) is None


def test_joins_are_limited_to_the_join_phase_and_max_workers(tc: TaskChain) -> None:
    _ok(tc.run(tc.post(max_workers=2, min_workers=2)))
    resp = tc.run(tc.join("bob"), tc.join("bob"), tc.join("carol"), tc.join("dave"))
    _ok(resp, 0)
    _code(resp, "tasks", 6, 1)  # already joined
    _ok(resp, 2)
    _code(resp, "tasks", 5, 3)  # full
    _code(tc.run(tc.join("erin", task_id=9)), "tasks", 3)  # no such task
    _code(tc.run(tc.join("erin")), "tasks", 4)  # joining closed (the task is running)


def test_commit_and_reveal_outside_their_phase_or_round_are_rejected(tc: TaskChain) -> None:
    _start(tc, ("bob", "carol"))
    vector = update_vector(1)
    tc.advance_to_phase(logic.COMMIT, 1)
    resp = tc.run(
        tc.commit("bob", 2, vector),  # wrong round
        tc.commit("erin", 1, vector),  # not a participant
        tc.commit("bob", 1, vector),
        tc.commit("bob", 1, vector),  # twice
    )
    _code(resp, "tasks", 14, 0)
    _code(resp, "tasks", 7, 1)
    _ok(resp, 2)
    _code(resp, "tasks", 8, 3)
    _code(tc.run(tc.reveal("bob", 1)), "tasks", 4)  # reveal during commit (its last block)
    assert logic.compute_phase(tc.task()).name == logic.REVEAL
    tc.pending[("carol", 1)] = tc.pending[("bob", 1)]
    resp = tc.run(
        tc.commit("carol", 1, vector),  # commit during reveal
        tc.reveal("carol", 1),  # nothing committed
        tc.reveal("bob", 1),
        tc.reveal("bob", 1),  # twice
    )
    _code(resp, "tasks", 4, 0)
    _code(resp, "tasks", 9, 1)
    _ok(resp, 2)
    _code(resp, "tasks", 11, 3)


def test_reveals_must_match_the_commitment_and_the_model_shape(tc: TaskChain) -> None:
    _start(tc, ("bob", "carol"))
    tc.advance_to_phase(logic.COMMIT, 1)
    _ok(tc.run(tc.commit("bob", 1, update_vector(1))))
    tc.advance_to_phase(logic.REVEAL, 1)
    other = UPDATE_FORMAT.encode(update_vector(2))
    too_big = np.full(SIZE, UPDATE_FORMAT.bound + 1, dtype=np.int64).astype("<i2").tobytes()
    resp = tc.run(
        tc.reveal("bob", 1, update=other),
        tc.reveal("bob", 1, num_samples=7),
        tc.reveal("bob", 1, salt=b"\x01" * 32),
        tc.reveal("bob", 1, update=b"\x00\x00" * (SIZE - 1)),  # wrong size
        tc.reveal("bob", 1, update=too_big),  # out of range
    )
    for i in range(3):
        _code(resp, "tasks", 10, i)
    assert "bytes" in _code(resp, "tasks", 12, 3)
    assert "within" in _code(resp, "tasks", 12, 4)
    _code(tc.run(tc.reveal("bob", 1, salt=b"short")), "tasks", 12)
    assert not list(tc.app.tasks.iterate_reveals(tc.app.store.view, 1, 1))


def test_a_task_with_too_few_workers_fails_and_refunds(tc: TaskChain) -> None:
    before = tc.chain.balance(test_key("alice").address)
    task = _start(tc, ("bob",))  # min_workers is 2
    assert task.status == tasks_pb2.TASK_STATUS_FAILED
    assert tc.chain.balance(test_key("alice").address) == before - tc.chain.fees_paid["alice"]
    assert tc.chain.ask("tasks", "Task", query_pb2.QueryTaskRequest(task_id=1)).phase == "failed"


def test_the_owner_alone_may_cancel_and_only_before_the_first_round(tc: TaskChain) -> None:
    from app.client.tasktx import msg_cancel

    _ok(
        tc.run(
            tc.post(schedule=tasks_pb2.Schedule(rounds=2, join_blocks=5, commit_blocks=2, reveal_blocks=2))
        )
    )
    _ok(tc.run(tc.join("bob")))
    bob_before = tc.chain.balance(test_key("bob").address)
    _code(tc.run(tc.chain.tx("bob", [msg_cancel(test_key("bob").address, 1)])), "tasks", 13)
    _ok(tc.run(tc.chain.tx("alice", [msg_cancel(test_key("alice").address, 1)])))
    assert tc.task().status == tasks_pb2.TASK_STATUS_CANCELLED
    # bob's stake came back; his failed cancel still paid its fee (it failed after the ante).
    assert tc.chain.balance(test_key("bob").address) == bob_before - 200_000 + 1000
    _code(tc.run(tc.chain.tx("alice", [msg_cancel(test_key("alice").address, 1)])), "tasks", 4)
    tc.advance_to(tc.app.store.height + 10)  # the withdrawn join deadline does not fire
    assert tc.task().status == tasks_pb2.TASK_STATUS_CANCELLED


def test_a_round_with_too_few_reveals_is_skipped_and_the_model_carries_over(tc: TaskChain) -> None:
    task = _start(tc, ("bob", "carol"))
    _play_round(tc, task, 1, (), workers=("bob", "carol"))
    record = tc.app.tasks.get_round(tc.app.store.view, 1, 1)
    assert record.outcome == tasks_pb2.ROUND_OUTCOME_SKIPPED and "0 accepted" in record.note
    assert record.model_hash == tc.app.tasks.get_round(tc.app.store.view, 1, 0).model_hash
    assert tc.task().rounds_done == 1 and tc.participant("bob").missed_reveals == 1


def _lifecycle(tc: TaskChain) -> bytes:
    """Post, join, three rounds (one with a withheld reveal), payout; return the final app hash."""
    task = _start(tc)
    for round_, revealers in ((1, WORKERS), (2, ("bob", "carol")), (3, WORKERS)):
        _play_round(tc, task, round_, revealers)
    assert tc.task().status == tasks_pb2.TASK_STATUS_FINISHED
    return tc.app.store.app_hash


# Pinned: a change means the tasks state machine, its encodings or its aggregation changed.
GOLDEN_LIFECYCLE_APP_HASH = "5441febbe70ff65b98fd643cd1ffdb1ddbbf350ea441e5b922417519915d8f87"


def test_lifecycle_is_deterministic_across_backends_and_matches_the_golden_hash(tmp_path) -> None:  # noqa: ANN001
    from app.state.backend import LevelDBBackend
    from tests.integration.harness import Chain

    memory = TaskChain()
    memory.chain.init(FUNDS)
    backend = LevelDBBackend(str(tmp_path / "db"))
    try:
        leveldb = TaskChain(Chain(backend))
        leveldb.chain.init(FUNDS)
        assert _lifecycle(memory) == _lifecycle(leveldb)
    finally:
        backend.close()
    assert memory.app.store.app_hash.hex() == GOLDEN_LIFECYCLE_APP_HASH


def test_a_tx_checktx_rejects_leaves_no_sequence_bump_in_the_check_state(tc: TaskChain) -> None:
    from tendermint.abci import types_pb2 as abci

    _ok(tc.run(tc.post()))
    bad = tc.commit("bob", 1, update_vector(1))  # bob is no participant, and it is the join phase
    assert tc.chain.abci.check_tx(abci.RequestCheckTx(tx=bad)).code != 0
    tc.chain.sequences["bob"] = 0
    assert tc.chain.abci.check_tx(abci.RequestCheckTx(tx=tc.join("bob"))).code == 0
