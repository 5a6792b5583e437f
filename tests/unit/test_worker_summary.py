"""A worker's closing summary: what the chain paid back, from the task and participant records."""

from __future__ import annotations

from app.agents.worker.summary import compute_summary
from synod.tasks.v1 import tasks_pb2
from tests.integration.harness import test_key

HONEST, CHEAT = test_key("bob").address, test_key("carol").address


def _finished_task() -> tasks_pb2.Task:
    task = tasks_pb2.Task(id=1, status=tasks_pb2.TASK_STATUS_FINISHED, rounds_done=2)
    task.schedule.rounds = 2
    task.worker_stake.denom, task.worker_stake.amount = "usyn", "1000000"
    task.reward.denom, task.reward.amount = "usyn", "9000"
    return task


def _members() -> list[tasks_pb2.Participant]:
    honest = tasks_pb2.Participant(task_id=1, address=HONEST, accepted_updates=2, reward_points=20_000)
    cheat = tasks_pb2.Participant(task_id=1, address=CHEAT, rejected_updates=2, slashed="400000")
    return [honest, cheat]


def test_a_slashed_worker_is_told_the_stake_that_came_back_and_what_was_slashed() -> None:
    summary = compute_summary(_finished_task(), "finished", _members(), CHEAT)
    assert summary.stake_returned == "600000usyn"
    assert summary.slashed == "400000usyn" and summary.rejected_updates == 2
    text = summary.describe()
    assert "stake returned: 600000usyn" in text and "slashed: 400000usyn" in text
    assert "2 rejected" in text


def test_an_unslashed_worker_gets_its_whole_stake_back() -> None:
    summary = compute_summary(_finished_task(), "finished", _members(), HONEST)
    assert summary.stake_returned == "1000000usyn" and summary.slashed == "0usyn"
    assert "stake returned: 1000000usyn" in summary.describe()


def test_a_worker_that_never_joined_gets_nothing_back() -> None:
    summary = compute_summary(_finished_task(), "finished", _members(), test_key("dave").address)
    assert summary.stake_returned == "0usyn" and summary.slashed == "0usyn"
