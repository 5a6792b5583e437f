"""What a worker reports once its task has ended: rounds contributed, updates accepted and rejected,
reward earned, and the stake the chain gave back (the worker stake less what was slashed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from app.core.crypto import decode_address
from app.modules.tasks.logic import compute_reward_shares
from synod.tasks.v1 import tasks_pb2

__all__ = ["WorkerSummary", "compute_summary"]


@dataclass(frozen=True)
class WorkerSummary:
    """The outcome for this worker once the task has ended."""

    task_id: int
    worker: str
    status: str
    rounds: int
    rounds_done: int
    accepted_updates: int
    rejected_updates: int
    missed_reveals: int
    reward: str
    stake_returned: str
    slashed: str

    def describe(self) -> str:
        """A few lines for people."""
        return (
            f"task {self.task_id} {self.status} after {self.rounds_done} of {self.rounds} rounds\n"
            f"worker {self.worker}: contributed {self.accepted_updates} accepted updates, "
            f"{self.rejected_updates} rejected, {self.missed_reveals} missed reveals\n"
            f"reward received: {self.reward} (stake returned: {self.stake_returned}, slashed: {self.slashed})"
        )

    def to_dict(self) -> dict[str, object]:
        """The fields as JSON-able values."""
        return asdict(self)


def compute_summary(
    task: tasks_pb2.Task, phase: str, members: Sequence[tasks_pb2.Participant], address: str
) -> WorkerSummary:
    """The summary of address from the participant records and the chain's reward rule."""
    mine = next((p for p in members if p.address == address), None)
    reward = 0
    if task.status == tasks_pb2.TASK_STATUS_FINISHED and mine is not None:
        counts = {decode_address(p.address): p.accepted_updates for p in members}
        shares, _ = compute_reward_shares(int(task.reward.amount), counts)
        reward = shares.get(decode_address(address), 0)
    # The chain pays back the worker stake less what it slashed (app/modules/tasks/hooks.py).
    stake = int(task.worker_stake.amount) if mine is not None else 0
    slashed = int(mine.slashed or 0) if mine is not None else 0
    denom = task.worker_stake.denom
    return WorkerSummary(
        task_id=task.id,
        worker=address,
        status=phase,
        rounds=task.schedule.rounds,
        rounds_done=task.rounds_done,
        accepted_updates=mine.accepted_updates if mine else 0,
        rejected_updates=mine.rejected_updates if mine else 0,
        missed_reveals=mine.missed_reveals if mine else 0,
        reward=f"{reward}{task.reward.denom}",
        stake_returned=f"{stake - slashed}{denom}",
        slashed=f"{slashed}{denom}",
    )
