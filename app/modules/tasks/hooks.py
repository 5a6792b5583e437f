"""tasks end-block work: close join phases, aggregate rounds, pay out finished tasks.

Only tasks scheduled at this height are touched (keys.SCHEDULE), so the cost of a block does not
grow with the number of idle tasks. Each visit schedules the task's next deadline.
"""

from __future__ import annotations

import numpy as np

from app.core.architectures import param_count
from app.core.coins import Coins
from app.core.crypto import decode_address, encode_address
from app.core.events import EventManager
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT, compute_next_weights
from app.modules.tasks import logic
from app.modules.tasks.aggregation import AggregationError, Update, get_rule, make_params
from app.modules.tasks.expected import TasksBank, UpdateJudge
from app.modules.tasks.keeper import TASKS_ESCROW, TasksKeeper
from app.state.kv import KVStore
from synod.tasks.v1 import tasks_pb2

__all__ = ["AcceptAll", "close_task", "process_end_block"]


class AcceptAll:
    """The judge until committees exist: every revealed update is accepted."""

    def select_accepted(
        self, store: KVStore, task: tasks_pb2.Task, round_: int, revealed: list[bytes]
    ) -> list[bytes]:
        """Return revealed unchanged."""
        return revealed


def process_end_block(
    store: KVStore, height: int, k: TasksKeeper, bank: TasksBank, judge: UpdateJudge, events: EventManager
) -> None:
    """Run every task deadline that falls at height, in task id order."""
    for task_id in k.pop_scheduled(store, height):
        task = k.require_task(store, task_id)
        if task.status == tasks_pb2.TASK_STATUS_JOINING:
            _close_join(store, height, k, bank, task, events)
        elif task.status == tasks_pb2.TASK_STATUS_RUNNING:
            _aggregate_round(store, height, k, judge, task, events)
            if task.rounds_done == task.schedule.rounds:
                close_task(store, k, bank, task, tasks_pb2.TASK_STATUS_FINISHED, events)
            else:
                k.schedule(store, logic.compute_round_end(task, task.rounds_done + 1), task.id)


def _close_join(
    store: KVStore, height: int, k: TasksKeeper, bank: TasksBank, task: tasks_pb2.Task, events: EventManager
) -> None:
    """Start round 1, or fail the task when too few workers joined."""
    if task.worker_count < task.min_workers:
        events.emit(
            "task_failed", task_id=task.id, reason=f"{task.worker_count} of {task.min_workers} workers joined"
        )
        close_task(store, k, bank, task, tasks_pb2.TASK_STATUS_FAILED, events)
        return
    task.status = tasks_pb2.TASK_STATUS_RUNNING
    k.set_task(store, task)
    k.schedule(store, logic.compute_round_end(task, 1), task.id)
    events.emit("task_started", task_id=task.id, workers=task.worker_count, height=height)


def _collect_updates(
    store: KVStore,
    k: TasksKeeper,
    task: tasks_pb2.Task,
    round_: int,
    accepted: dict[bytes, tasks_pb2.Reveal],
) -> list[Update]:
    """The accepted workers' updates, decoded (they were checked at reveal)."""
    size = param_count(task.model.arch, task.model.n_features, task.model.n_classes)
    updates = []
    for worker, reveal in accepted.items():
        payload = k.get_update(store, task.id, round_, worker)
        assert payload is not None  # stored together with its reveal
        vector = UPDATE_FORMAT.decode(payload, size)
        updates.append(Update(encode_address(worker), vector, min(reveal.num_samples, 2**31)))
    return updates


def _combine(task: tasks_pb2.Task, updates: list[Update], weights: bytes) -> tuple[bytes | None, str]:
    """Return the next weights (None when the round must be skipped) and a note."""
    params = make_params(task.aggregation.rule, {p.name: p.value for p in task.aggregation.params})
    need = max(params.min_updates(), 1)
    if len(updates) < need:
        return None, f"{len(updates)} accepted updates, the rule needs {need}"
    try:
        aggregate = get_rule(task.aggregation.rule)(updates, params)
    except AggregationError as e:  # defensive: inputs were checked at reveal
        return None, f"aggregation failed: {e}"
    size = param_count(task.model.arch, task.model.n_features, task.model.n_classes)
    current = WEIGHT_FORMAT.decode(weights, size)
    return WEIGHT_FORMAT.encode(compute_next_weights(current, np.asarray(aggregate, np.int64))), ""


def _aggregate_round(
    store: KVStore,
    height: int,
    k: TasksKeeper,
    judge: UpdateJudge,
    task: tasks_pb2.Task,
    events: EventManager,
) -> None:
    """Aggregate the round's accepted updates into the next checkpoint; clear the round's state."""
    round_ = task.rounds_done + 1
    committed = [worker for worker, _ in k.iterate_commitments(store, task.id, round_)]
    reveals = dict(k.iterate_reveals(store, task.id, round_))
    revealed = list(reveals)
    chosen = set(judge.select_accepted(store, task, round_, revealed))
    accepted = {worker: reveals[worker] for worker in sorted(chosen & set(reveals))}
    updates = _collect_updates(store, k, task, round_, accepted)
    weights = k.get_model(store, task.model_hash)
    assert weights is not None  # every checkpoint hash was stored with its weights
    new_weights, note = _combine(task, updates, weights)
    record = tasks_pb2.RoundRecord(
        task_id=task.id,
        round=round_,
        height=height,
        committed=len(committed),
        revealed=len(revealed),
        note=note,
    )
    if new_weights is None:
        record.outcome = tasks_pb2.ROUND_OUTCOME_SKIPPED
        record.model_hash = task.model_hash
    else:
        record.outcome = tasks_pb2.ROUND_OUTCOME_AGGREGATED
        record.model_hash = task.model_hash = k.put_model(store, new_weights)
        record.accepted_workers.extend(u.worker for u in updates)
        record.accepted_update_hashes.extend(reveal.update_hash for reveal in accepted.values())
        _count(store, k, task.id, list(accepted), "accepted_updates")
    _count(store, k, task.id, sorted(set(committed) - set(reveals)), "missed_reveals")
    k.clear_round(store, task.id, round_)
    k.set_round(store, record)
    task.rounds_done = round_
    k.set_task(store, task)
    events.emit(
        "round_closed",
        task_id=task.id,
        round=round_,
        outcome=tasks_pb2.RoundOutcome.Name(record.outcome),
        model_hash=record.model_hash.hex(),
        accepted=len(record.accepted_workers),
        revealed=len(revealed),
    )


def _count(store: KVStore, k: TasksKeeper, task_id: int, workers: list[bytes], field: str) -> None:
    """Add one to a participant counter for each worker."""
    for worker in workers:
        p = k.get_participant(store, task_id, worker)
        assert p is not None  # only participants commit
        setattr(p, field, getattr(p, field) + 1)
        k.set_participant(store, worker, p)


def _payout(denoms: dict[str, int]) -> Coins:
    """Coins from amounts that may share a denom (stake and reward usually do)."""
    return Coins.of(sorted(denoms.items()))


def close_task(
    store: KVStore, k: TasksKeeper, bank: TasksBank, task: tasks_pb2.Task, status: int, events: EventManager
) -> None:
    """End a task: return stakes, pay rewards by accepted updates (finished tasks only), refund the rest."""
    participants = list(k.iterate_participants(store, task.id))
    counts = {worker: p.accepted_updates for worker, p in participants}
    finished = status == tasks_pb2.TASK_STATUS_FINISHED
    shares, remainder = logic.compute_reward_shares(int(task.reward.amount), counts if finished else {})
    stake, reward_denom = int(task.worker_stake.amount), task.reward.denom
    for worker, _ in participants:
        amounts = {task.worker_stake.denom: stake}
        amounts[reward_denom] = amounts.get(reward_denom, 0) + shares.get(worker, 0)
        bank.send_coins_from_module_to_account(store, TASKS_ESCROW, worker, _payout(amounts))
        if shares.get(worker):
            events.emit(
                "reward_paid",
                task_id=task.id,
                worker=encode_address(worker),
                amount=f"{shares[worker]}{reward_denom}",
            )
    bank.send_coins_from_module_to_account(
        store, TASKS_ESCROW, decode_address(task.owner), _payout({reward_denom: remainder})
    )
    task.status = status
    k.set_task(store, task)
    events.emit(
        "task_closed",
        task_id=task.id,
        status=tasks_pb2.TaskStatus.Name(status),
        refunded=f"{remainder}{reward_denom}",
    )
