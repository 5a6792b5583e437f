"""Self-declared inputs a worker or owner could inflate are bounded or refused through the handlers."""

from __future__ import annotations

import pytest

from app.modules.tasks import logic
from app.modules.tasks.params import default_params, validate_params
from synod.tasks.v1 import tasks_pb2
from tests.integration.tasks_harness import TaskChain, update_vector
from tests.integration.test_tasks import FUNDS, _code, _ok, _start

CAP = default_params().max_num_samples


@pytest.fixture
def tc() -> TaskChain:
    tc = TaskChain()
    tc.chain.init(FUNDS)
    return tc


def test_a_reveal_declaring_more_than_max_num_samples_is_refused_and_slashed_as_missed(tc: TaskChain) -> None:
    task = _start(tc, ("bob", "carol", "dave"))
    tc.advance_to_phase(logic.COMMIT, 1)
    resp = tc.run(
        tc.commit("bob", 1, update_vector(1), samples=2**31 - 1),  # would veto the mean (or own it)
        tc.commit("carol", 1, update_vector(2), samples=CAP),  # exactly the cap: fine
        tc.commit("dave", 1, update_vector(3), samples=100),
    )
    for i in range(3):
        _ok(resp, i)
    tc.advance_to_phase(logic.REVEAL, 1)
    resp = tc.run(tc.reveal("bob", 1), tc.reveal("carol", 1), tc.reveal("dave", 1))
    assert "tasks.max_num_samples" in _code(resp, "tasks", 18, 0)
    _ok(resp, 1)
    _ok(resp, 2)
    tc.advance_past_round(1)
    record = tc.app.tasks.get_round(tc.app.store.view, task.id, 1)
    assert record.outcome == tasks_pb2.ROUND_OUTCOME_AGGREGATED, record.note
    bob = tc.participant("bob")
    assert bob.missed_reveals == 1 and int(bob.slashed) > 0


def test_max_num_samples_is_positive_and_keeps_the_total_weight_bounded() -> None:
    params = default_params()
    assert params.max_num_samples == 1_000_000
    validate_params(params)
    for value, words in ((0, "must be positive"), (2**31 // params.max_workers + 1, "total weight")):
        bad = tasks_pb2.Params()
        bad.CopyFrom(params)
        bad.max_num_samples = value
        with pytest.raises(ValueError, match=words):
            validate_params(bad)


def test_centered_clipping_refuses_a_momentum_the_chain_would_ignore(tc: TaskChain) -> None:
    def clipping(**values: int) -> tasks_pb2.Aggregation:
        params = [tasks_pb2.AggregationParam(name=k, value=v) for k, v in sorted(values.items())]
        return tasks_pb2.Aggregation(rule="centered_clipping", params=params)

    resp = tc.run(tc.post(aggregation=clipping(momentum_bps=9_000, radius=1_000)))
    log = _code(resp, "tasks", 2)
    assert "momentum_bps must be 0" in log and "no clipping state" in log
    _ok(tc.run(tc.post(aggregation=clipping(momentum_bps=0, radius=1_000))))
    _ok(tc.run(tc.post(aggregation=clipping(radius=1_000))))
