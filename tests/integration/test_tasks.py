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


def _play_round(tc: TaskChain, task: tasks_pb2.Task, round_: int, revealers: tuple[str, ...]) -> dict:
    """Every worker commits; revealers reveal; the round closes. Returns what was revealed."""
    tc.advance_to(logic.compute_round_start(task, round_))
    plan = {w: (update_vector(100 * round_ + i), 50 + 10 * i) for i, w in enumerate(WORKERS)}
    resp = tc.run(*[tc.commit(w, round_, *plan[w]) for w in WORKERS])
    for i in range(len(WORKERS)):
        _ok(resp, i)
    tc.advance_to(logic.compute_phase(task, tc.app.store.height + 1).end_height + 1)
    resp = tc.run(*[tc.reveal(w, round_) for w in revealers])
    for i in range(len(revealers)):
        _ok(resp, i)
    tc.advance_to(logic.compute_round_end(task, round_) + 1)
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
        assert list(record.accepted_workers) == sorted((test_key(w).address for w in revealers), key=decode_address)
        assert (record.committed, record.revealed) == (3, len(revealers))
        # The round's commitments, reveals and payloads are gone; only the checkpoint stays.
        assert not list(tc.app.tasks.iterate_reveals(tc.app.store.view, 1, round_))
    task = tc.task()
    assert task.status == tasks_pb2.TASK_STATUS_FINISHED and task.rounds_done == 3
    assert tc.participant("dave").missed_reveals == 1
    # 9001 split 3:3:2 by accepted updates, floored; the remainder returns to alice; stakes come back.
    shares = {"bob": 9001 * 3 // 8, "carol": 9001 * 3 // 8, "dave": 9001 * 2 // 8}
    for name, share in shares.items():
        assert tc.chain.balance(test_key(name).address) == before[name] - tc.chain.fees_paid[name] + share
    remainder = 9001 - sum(shares.values())
    assert remainder == 1
    alice = tc.chain.balance(test_key("alice").address)
    assert alice == before["alice"] - tc.chain.fees_paid["alice"] - 9001 + remainder
    escrow = tc.app.bank.module_account(TASKS_ESCROW)
    assert tc.app.bank.get_all_balances(tc.app.store.view, escrow) == ()
