"""Pure rules of the tasks module: the round schedule, commitments and reward shares."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.modules.tasks import logic
from app.modules.tasks.params import default_params, validate_params
from synod.tasks.v1 import tasks_pb2


def _task(start: int, rounds: int, join: int, commit: int, reveal: int, score: int) -> tasks_pb2.Task:
    schedule = tasks_pb2.Schedule(
        rounds=rounds, join_blocks=join, commit_blocks=commit, reveal_blocks=reveal, score_blocks=score
    )
    return tasks_pb2.Task(id=1, start_height=start, schedule=schedule)


def _running(phase: int, start: int, workers: int = 3) -> tasks_pb2.Task:
    task = _task(start=10, rounds=2, join=2, commit=3, reveal=2, score=4)
    task.status, task.rounds_done, task.worker_count = tasks_pb2.TASK_STATUS_RUNNING, 1, workers
    task.phase, task.phase_start_height = phase, start  # type: ignore[assignment]
    return task


def test_the_phase_is_the_stored_one_and_its_deadline_its_start_plus_its_blocks() -> None:
    task = _task(start=10, rounds=2, join=2, commit=3, reveal=2, score=4)
    task.status = tasks_pb2.TASK_STATUS_JOINING
    assert logic.compute_phase(task) == logic.Phase("join", 0, 11)
    for phase, name, end in (
        (tasks_pb2.TASK_PHASE_COMMIT, "commit", 22),
        (tasks_pb2.TASK_PHASE_REVEAL, "reveal", 21),
        (tasks_pb2.TASK_PHASE_SCORE, "score", 23),
    ):
        assert logic.compute_phase(_running(phase, 20)) == logic.Phase(name, 2, end)
    task.status, task.rounds_done = tasks_pb2.TASK_STATUS_FINISHED, 2
    assert logic.compute_phase(task).name == "done"


@given(st.integers(0, 5), st.integers(0, 5), st.integers(1, 5))
def test_a_phase_is_complete_only_when_all_its_work_is_in(commits: int, reveals: int, workers: int) -> None:
    progress = tasks_pb2.RoundProgress(commits=commits, reveals=min(reveals, commits))  # reveals need commits
    commit = _running(tasks_pb2.TASK_PHASE_COMMIT, 20, workers)
    assert logic.is_phase_complete(commit, progress) == (commits >= workers)
    reveal = _running(tasks_pb2.TASK_PHASE_REVEAL, 20, workers)
    assert logic.is_phase_complete(reveal, progress) == (commits > 0 and progress.reveals == commits)
    # Scoring is the committee's to call complete; a task that is not running never is.
    assert not logic.is_phase_complete(_running(tasks_pb2.TASK_PHASE_SCORE, 20, workers), progress)
    commit.status = tasks_pb2.TASK_STATUS_FINISHED
    assert not logic.is_phase_complete(commit, progress)


@given(
    st.integers(0, 10**30),
    st.dictionaries(st.binary(min_size=20, max_size=20), st.integers(0, 1000), max_size=8),
)
def test_reward_shares_are_proportional_floored_and_never_exceed_the_reward(
    reward: int, counts: dict
) -> None:
    shares, remainder = logic.compute_reward_shares(reward, counts)
    assert sum(shares.values()) + remainder == reward and remainder >= 0
    total = sum(counts.values())
    for worker, share in shares.items():
        assert share == reward * counts[worker] // total
    if total:  # each floored share loses less than one unit
        assert remainder < len([c for c in counts.values() if c])
    else:
        assert remainder == reward


def test_commitments_bind_every_input() -> None:
    base = dict(task_id=1, round_=2, worker=b"w" * 20, salt=b"s" * 32, num_samples=10, update=b"u" * 8)
    digest = logic.compute_commitment(**base)
    for field, other in [
        ("task_id", 2),
        ("round_", 3),
        ("worker", b"x" * 20),
        ("salt", b"t" * 32),
        ("num_samples", 11),
        ("update", b"v" * 8),
    ]:
        assert logic.compute_commitment(**{**base, field: other}) != digest, field


def test_a_closed_phase_waiting_for_the_block_budget_reads_closing_until_its_step_runs() -> None:
    task = _running(tasks_pb2.TASK_PHASE_REVEAL, 20)
    task.closed_height = 21
    assert logic.compute_phase(task) == logic.Phase(logic.CLOSING, 2, 21)
    task.closed_height = 0  # the step ran
    assert logic.compute_phase(task) == logic.Phase(logic.REVEAL, 2, 21)


def test_a_step_is_priced_at_its_aggregation_and_never_below_its_bookkeeping() -> None:
    task = _running(tasks_pb2.TASK_PHASE_REVEAL, 20)
    task.model.CopyFrom(tasks_pb2.ModelSpec(arch="logreg", n_features=999, n_classes=2))  # 2000 params
    task.aggregation.rule = "krum"
    task.aggregation.params.add(name="byzantine", value=0)
    overhead = logic.STEP_WORK + 100 * logic.UPDATE_WORK
    assert logic.compute_step_work(task, 100) == 100 * 100 * 2000 // 2  # over the bookkeeping
    assert logic.compute_step_work(task, 3) == logic.STEP_WORK + 3 * logic.UPDATE_WORK  # under it
    assert logic.compute_step_work(task, 100, scoring_work=7) == overhead + 7  # sampling a committee


@given(st.integers(0, 1000), st.integers(1, 1000), st.integers(1, 1000))
def test_a_block_runs_a_step_while_within_budget_and_always_its_first(
    spent: int, work: int, budget: int
) -> None:
    assert logic.is_within_budget(spent, work, budget) == (spent == 0 or spent + work <= budget)
    assert logic.is_within_budget(0, work, budget)


def test_params_refuse_a_round_bound_over_the_block_bound() -> None:
    params = default_params()
    validate_params(params)
    assert params.max_aggregation_work <= params.max_block_aggregation_work
    params.max_block_aggregation_work = params.max_aggregation_work - 1
    with pytest.raises(ValueError, match="must fit a block"):
        validate_params(params)
    params.max_block_aggregation_work = 0
    with pytest.raises(ValueError, match="must be positive"):
        validate_params(params)
