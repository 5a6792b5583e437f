"""tasks invariants, run after every block in tests."""

from __future__ import annotations

from collections.abc import Callable

from app.modules.tasks.keeper import TASKS_ESCROW, TasksKeeper
from app.state.kv import KVStore
from synod.tasks.v1 import tasks_pb2

__all__ = ["check_escrow"]

_OPEN = (tasks_pb2.TASK_STATUS_JOINING, tasks_pb2.TASK_STATUS_RUNNING)


def check_escrow(
    store: KVStore, k: TasksKeeper, balance_of: Callable[[KVStore, str], dict[str, int]]
) -> None:
    """The tasks escrow holds exactly the rewards and the unslashed worker stakes of open tasks."""
    owed: dict[str, int] = {}
    for task in k.iterate_tasks(store):
        if task.status not in _OPEN:
            continue
        owed[task.reward.denom] = owed.get(task.reward.denom, 0) + int(task.reward.amount)
        slashed = sum(int(p.slashed or 0) for _, p in k.iterate_participants(store, task.id))
        stakes = int(task.worker_stake.amount) * task.worker_count - slashed
        owed[task.worker_stake.denom] = owed.get(task.worker_stake.denom, 0) + stakes
    held = balance_of(store, TASKS_ESCROW)
    expected = {denom: amount for denom, amount in owed.items() if amount}
    if held != expected:
        raise AssertionError(f"tasks escrow holds {held}, open tasks are owed {expected}")
