"""tasks end-block work: close join phases and round phases, aggregate rounds, pay out finished tasks.

Only tasks scheduled at this height are touched (keys.SCHEDULE), so the cost of a block does not
grow with the number of idle tasks. A running task has one entry: its current phase's deadline, or
the height whose block completed the phase's work (early close, logic.py); each visit ends that
phase and schedules the next one's deadline. The steps that cost more than a few writes (ending a
round, sampling a committee) share one budget per block (tasks.max_block_aggregation_work, the
spread rule in logic.py): those it has no room for wait in keys.CLOSING for a later block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.architectures import model_param_count
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

__all__ = ["close_task", "process_end_block"]

_BPS = 10_000


@dataclass
class _Budget:
    """One block's end-block steps so far against tasks.max_block_aggregation_work."""

    limit: int
    spent: int = 0
    full: bool = False  # a step was deferred: every later one waits too (first closed, first run)

    def spend(self, work: int) -> bool:
        """Count a step of work and return True if it runs in this block."""
        if self.full or not logic.is_within_budget(self.spent, work, self.limit):
            self.full = True
            return False
        self.spent += work
        return True


def process_end_block(
    store: KVStore, height: int, k: TasksKeeper, bank: TasksBank, judge: UpdateJudge, events: EventManager
) -> None:
    """Run the closed phases waiting for the block budget, oldest first; then end the phase of every
    task scheduled at height, in task id order, deferring the steps the budget has no room for."""
    budget = _Budget(k.get_params(store).max_block_aggregation_work)
    for task in _take_closing(store, k, judge, budget):
        closed_height = task.closed_height
        k.clear_closing(store, task)
        _finish_phase(store, height, k, bank, judge, task, events, closed_height)
    for task_id in k.pop_scheduled(store, height):
        task = k.require_task(store, task_id)
        if task.status == tasks_pb2.TASK_STATUS_JOINING:
            _close_join(store, height, k, bank, task, events)
        elif task.status != tasks_pb2.TASK_STATUS_RUNNING:
            continue  # defensive: a closed task holds no schedule entry
        elif task.phase == tasks_pb2.TASK_PHASE_COMMIT:
            _emit_phase_closed(task, height, events)
            k.start_phase(store, task, tasks_pb2.TASK_PHASE_REVEAL, height + 1)
        else:
            if task.phase == tasks_pb2.TASK_PHASE_REVEAL and task.schedule.score_blocks:
                _emit_phase_closed(task, height, events)
            work = _get_step_work(store, k, judge, task)
            if budget.spend(work):
                _finish_phase(store, height, k, bank, judge, task, events)
            else:
                _defer(store, height, k, task, work, budget, events)


def _get_step_work(store: KVStore, k: TasksKeeper, judge: UpdateJudge, task: tasks_pb2.Task) -> int:
    """The price of a running task's closed phase's end-block step (logic.compute_step_work)."""
    reveals = k.get_progress(store, task.id).reveals
    scoring = task.phase == tasks_pb2.TASK_PHASE_REVEAL and task.schedule.score_blocks > 0
    if scoring:
        return logic.compute_step_work(task, reveals, judge.get_scoring_work(store))
    return logic.compute_step_work(task, reveals) + judge.get_judging_work(store, task, reveals)


def _take_closing(
    store: KVStore, k: TasksKeeper, judge: UpdateJudge, budget: _Budget
) -> list[tasks_pb2.Task]:
    """The waiting closed phases this block has room for, in queue order; reads stop at the first
    that does not fit, so a long queue costs a block only what it runs."""
    taken = []
    for task_id in k.iterate_closing(store):
        task = k.require_task(store, task_id)
        if not budget.spend(_get_step_work(store, k, judge, task)):
            break
        taken.append(task)
    return taken


def _defer(
    store: KVStore,
    height: int,
    k: TasksKeeper,
    task: tasks_pb2.Task,
    work: int,
    budget: _Budget,
    events: EventManager,
) -> None:
    """Close the phase now but leave its step to a later block: the task reads "closing"."""
    phase = logic.phase_name(task.phase)
    k.set_closing(store, task, height)
    events.emit(
        "aggregation_deferred",
        task_id=task.id,
        round=task.rounds_done + 1,
        phase=phase,
        height=height,
        work=work,
        block_work=budget.spent,
        budget=budget.limit,
    )


def _finish_phase(
    store: KVStore,
    height: int,
    k: TasksKeeper,
    bank: TasksBank,
    judge: UpdateJudge,
    task: tasks_pb2.Task,
    events: EventManager,
    closed_height: int = 0,
) -> None:
    """The end-block step of a closed reveal or score phase: sample a scored round's committee, or
    aggregate the round (and close a finished task); the next phase starts at height + 1."""
    round_ = task.rounds_done + 1
    if task.phase == tasks_pb2.TASK_PHASE_REVEAL and task.schedule.score_blocks:
        revealed = [worker for worker, _ in k.iterate_reveals(store, task.id, round_)]
        judge.open_scoring(store, task, round_, revealed, height, events)
        k.start_phase(store, task, tasks_pb2.TASK_PHASE_SCORE, height + 1)
        return
    # the reveal phase of an unscored task, or a score phase: the round is over
    _aggregate_round(store, height, k, bank, judge, task, events, closed_height)
    if task.rounds_done == task.schedule.rounds:
        close_task(store, k, bank, task, tasks_pb2.TASK_STATUS_FINISHED, events, judge)
    else:
        k.start_phase(store, task, tasks_pb2.TASK_PHASE_COMMIT, height + 1)


def _emit_phase_closed(task: tasks_pb2.Task, height: int, events: EventManager) -> None:
    """Say which phase closed, and whether before its deadline."""
    phase = logic.compute_phase(task)
    events.emit(
        "phase_closed",
        task_id=task.id,
        round=phase.round,
        phase=phase.name,
        height=height,
        early=height < phase.end_height,
    )


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
    k.start_phase(store, task, tasks_pb2.TASK_PHASE_COMMIT, height + 1)
    events.emit("task_started", task_id=task.id, workers=task.worker_count, height=height)


def _collect_updates(
    store: KVStore,
    k: TasksKeeper,
    task: tasks_pb2.Task,
    round_: int,
    accepted: dict[bytes, tasks_pb2.Reveal],
    weights_bps: dict[bytes, tuple[int, int]],
) -> list[Update]:
    """The accepted workers' updates, decoded (they were checked at reveal), weighted by reputation."""
    size = model_param_count(task.model)
    updates = []
    for worker, reveal in accepted.items():
        payload = k.get_update(store, task.id, round_, worker)
        assert payload is not None  # stored together with its reveal
        vector = UPDATE_FORMAT.decode(payload, size)
        weight = max(1, min(reveal.num_samples, 2**31) * weights_bps[worker][0] // _BPS)
        updates.append(Update(encode_address(worker), vector, weight))
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
    size = model_param_count(task.model)
    current = WEIGHT_FORMAT.decode(weights, size)
    return WEIGHT_FORMAT.encode(compute_next_weights(current, np.asarray(aggregate, np.int64))), ""


def _aggregate_round(
    store: KVStore,
    height: int,
    k: TasksKeeper,
    bank: TasksBank,
    judge: UpdateJudge,
    task: tasks_pb2.Task,
    events: EventManager,
    closed_height: int = 0,
) -> None:
    """Judge the round, aggregate its accepted updates into the next checkpoint, slash, clear the round."""
    round_ = task.rounds_done + 1
    committed = [worker for worker, _ in k.iterate_commitments(store, task.id, round_)]
    reveals = dict(k.iterate_reveals(store, task.id, round_))
    missed = sorted(set(committed) - set(reveals))
    judgement = judge.judge_round(store, task, round_, reveals, missed, height, events)
    accepted = {worker: reveals[worker] for worker in sorted(judgement.accepted)}
    updates = _collect_updates(store, k, task, round_, accepted, judgement.accepted)
    weights = k.get_model(store, task.model_hash)
    assert weights is not None  # every checkpoint hash was stored with its weights
    new_weights, note = _combine(task, updates, weights)
    record = tasks_pb2.RoundRecord(
        task_id=task.id,
        round=round_,
        height=height,
        start_height=task.round_start_height,
        closed_height=closed_height,
        committed=len(committed),
        revealed=len(reveals),
        note=note,
        rejected_workers=[encode_address(w) for w in judgement.rejected],
        missed_workers=[encode_address(w) for w in missed],
    )
    if new_weights is None:
        record.outcome = tasks_pb2.ROUND_OUTCOME_SKIPPED
        record.model_hash = task.model_hash
        k.retain_model_hash(store, task.model_hash)
    else:
        record.outcome = tasks_pb2.ROUND_OUTCOME_AGGREGATED
        record.model_hash = task.model_hash = k.retain_model(store, new_weights)
        record.accepted_workers.extend(u.worker for u in updates)
        record.accepted_update_hashes.extend(reveal.update_hash for reveal in accepted.values())
        _credit(store, k, task.id, judgement.accepted)
    params = k.get_params(store)
    _slash(
        store, k, bank, task, judgement.rejected, params.rejected_update_slash_bps, "rejected_update", events
    )
    _slash(store, k, bank, task, missed, params.missed_reveal_slash_bps, "missed_reveal", events)
    k.clear_round(store, task.id, round_)
    k.set_round(store, record)
    _prune_checkpoint(store, k, task, round_ - compute_kept_checkpoints(params, len(weights)), events)
    task.rounds_done = round_
    k.set_task(store, task)
    events.emit(
        "round_closed",
        task_id=task.id,
        round=round_,
        outcome=tasks_pb2.RoundOutcome.Name(record.outcome),
        model_hash=record.model_hash.hex(),
        accepted=len(record.accepted_workers),
        revealed=len(reveals),
        rejected=len(judgement.rejected),
        missed=len(missed),
    )


def compute_kept_checkpoints(params: tasks_pb2.Params, checkpoint_bytes: int) -> int:
    """How many of a task's newest checkpoints keep their weights: as many as fit
    checkpoint_retention_bytes, and never fewer than two (the current model and the one before)."""
    return max(2, params.checkpoint_retention_bytes // max(checkpoint_bytes, 1))


def _prune_checkpoint(
    store: KVStore, k: TasksKeeper, task: tasks_pb2.Task, round_: int, events: EventManager
) -> None:
    """Release the weights of round round_'s checkpoint (its record and hash stay), once."""
    record = k.get_round(store, task.id, round_) if round_ >= 0 else None
    if record is None or record.pruned:
        return
    k.release_model(store, record.model_hash)
    record.pruned = True
    k.set_round(store, record)
    events.emit("checkpoint_pruned", task_id=task.id, round=round_, model_hash=record.model_hash.hex())


def _credit(store: KVStore, k: TasksKeeper, task_id: int, accepted: dict[bytes, tuple[int, int]]) -> None:
    """Count each aggregated update and add its reward points to its worker."""
    for worker, (_, points) in accepted.items():
        p = k.get_participant(store, task_id, worker)
        assert p is not None  # only participants reveal
        p.accepted_updates += 1
        p.reward_points += points
        k.set_participant(store, worker, p)


def _slash(
    store: KVStore,
    k: TasksKeeper,
    bank: TasksBank,
    task: tasks_pb2.Task,
    workers: list[bytes],
    fraction_bps: int,
    reason: str,
    events: EventManager,
) -> None:
    """Burn a fraction of each offender's task stake and count the offence.

    Burnt, not paid to anyone: neither the committee nor the other workers gain from a rejection,
    so no one profits from failing an honest update.
    """
    stake = int(task.worker_stake.amount)
    for worker in workers:
        p = k.get_participant(store, task.id, worker)
        assert p is not None  # only participants commit
        if reason == "missed_reveal":
            p.missed_reveals += 1
        else:
            p.rejected_updates += 1
        amount = logic.compute_slash(stake, int(p.slashed or 0), fraction_bps)
        if amount:
            bank.burn_coins(store, TASKS_ESCROW, _payout({task.worker_stake.denom: amount}))
            p.slashed = str(int(p.slashed or 0) + amount)
        k.set_participant(store, worker, p)
        events.emit(
            "worker_slashed",
            task_id=task.id,
            worker=p.address,
            reason=reason,
            burned=f"{amount}{task.worker_stake.denom}",
        )


def _payout(denoms: dict[str, int]) -> Coins:
    """Coins from amounts that may share a denom (stake and reward usually do)."""
    return Coins.of(sorted(denoms.items()))


def close_task(
    store: KVStore,
    k: TasksKeeper,
    bank: TasksBank,
    task: tasks_pb2.Task,
    status: tasks_pb2.TaskStatus,
    events: EventManager,
    judge: UpdateJudge | None = None,
) -> None:
    """End a task: return what is left of each stake; when finished, pay the committee its share and
    the workers the rest by reward points; refund the remainder to the owner."""
    participants = list(k.iterate_participants(store, task.id))
    finished = status == tasks_pb2.TASK_STATUS_FINISHED
    reward, reward_denom = int(task.reward.amount), task.reward.denom
    committee = judge.pop_committee_rewards(store, task, reward) if judge is not None else {}
    if not finished:
        committee = {}
    points = {worker: p.reward_points for worker, p in participants} if finished else {}
    shares, remainder = logic.compute_reward_shares(reward - sum(committee.values()), points)
    for worker, p in participants:
        amounts = {task.worker_stake.denom: int(task.worker_stake.amount) - int(p.slashed or 0)}
        amounts[reward_denom] = amounts.get(reward_denom, 0) + shares.get(worker, 0)
        bank.send_coins_from_module_to_account(store, TASKS_ESCROW, worker, _payout(amounts))
        if shares.get(worker):
            events.emit(
                "reward_paid", task_id=task.id, worker=p.address, amount=f"{shares[worker]}{reward_denom}"
            )
    for member, amount in sorted(committee.items()):
        bank.send_coins_from_module_to_account(store, TASKS_ESCROW, member, _payout({reward_denom: amount}))
        events.emit(
            "committee_reward_paid",
            task_id=task.id,
            member=encode_address(member),
            amount=f"{amount}{reward_denom}",
        )
    bank.send_coins_from_module_to_account(
        store, TASKS_ESCROW, decode_address(task.owner), _payout({reward_denom: remainder})
    )
    task.status, task.phase = status, tasks_pb2.TASK_PHASE_UNSPECIFIED
    k.set_task(store, task)
    k.clear_progress(store, task.id)
    events.emit(
        "task_closed",
        task_id=task.id,
        status=tasks_pb2.TaskStatus.Name(status),
        refunded=f"{remainder}{reward_denom}",
    )
