"""Pure rules of the tasks module: the round schedule, commitments and reward shares.

Schedule (all heights inclusive). A task posted at height P has its join phase at
[P, P + join - 1]; it never closes early (people and agents need the time to arrive and compile).
Each round then runs a commit phase, a reveal phase and, with score_blocks > 0, a score phase. A
phase that starts at height S ends at S + its blocks - 1 at the latest (its deadline), or earlier:
at the end of the first block in which its work is complete (early close):

- commit: every joined worker has committed (RoundProgress.commits == worker_count);
- reveal: every commitment is revealed (reveals == commits, at least one);
- score: every seat of the round's committee has attested (the committee module says so).

The next phase starts at the following height. The rule reads only state at end-block (counters
and the task's stored phase), so every node closes every phase at the same height. Phases are
closed, and rounds aggregated, in the end-block of their last height, after that block's
transactions, so a message included at that height still counts.

Block budget (spread rule). Ending a round (aggregation) and a scored round's reveal phase
(committee sampling) are priced by compute_step_work; a block runs such steps while its total
stays within tasks.max_block_aggregation_work (is_within_budget; the first always runs). One that
would pass it stays closed, phase "closing", and runs in a later block: waiting steps go first,
oldest closing height first, then by task id, then the block's own in task id order. A closing
phase takes no more messages; the next phase starts at the height after the step runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from app.core.architectures import model_param_count
from app.core.codec import u64be
from app.modules.tasks.aggregation import compute_work, make_params
from synod.tasks.v1 import tasks_pb2

__all__ = [
    "COMMIT_DOMAIN",
    "MIN_PART_BYTES",
    "Phase",
    "compute_commitment",
    "compute_join_end",
    "compute_phase",
    "compute_reward_shares",
    "compute_slash",
    "compute_step_work",
    "is_phase_complete",
    "is_within_budget",
    "phase_blocks",
    "phase_name",
]

COMMIT_DOMAIN = b"synod/tasks/commit/v1"
# An update larger than one transaction is revealed in MsgRevealPart pieces of at least this size
# (whole int16 entries), so a 4M-parameter update (8 MiB) has at most 128 of them.
MIN_PART_BYTES = 64 << 10
JOIN, COMMIT, REVEAL, SCORE, DONE = "join", "commit", "reveal", "score", "done"
CLOSING = "closing"  # the phase has closed; its end-block step waits for a block's budget
# The bookkeeping of one end-block step (the task, its records, events) and of each revealed update
# in it (reads, decoding, judging, the worker's record, deleting the round's keys), in entry
# operations: about 0.5 ms and 30 us at the speed bench/growth measures, so a block of many tiny
# rounds is bounded too.
STEP_WORK = 1 << 16
UPDATE_WORK = 1 << 12
_NAMES = {
    tasks_pb2.TASK_PHASE_COMMIT: COMMIT,
    tasks_pb2.TASK_PHASE_REVEAL: REVEAL,
    tasks_pb2.TASK_PHASE_SCORE: SCORE,
}


@dataclass(frozen=True)
class Phase:
    """Where a task stands: phase name, round (0 while joining) and the phase's deadline (last height)."""

    name: str
    round: int
    end_height: int


def compute_join_end(task: tasks_pb2.Task) -> int:
    """Last height of the join phase."""
    return task.start_height + task.schedule.join_blocks - 1


def phase_blocks(schedule: tasks_pb2.Schedule, phase: tasks_pb2.TaskPhase) -> int:
    """The most blocks a round phase (a TaskPhase) may last."""
    return {
        tasks_pb2.TASK_PHASE_COMMIT: schedule.commit_blocks,
        tasks_pb2.TASK_PHASE_REVEAL: schedule.reveal_blocks,
        tasks_pb2.TASK_PHASE_SCORE: schedule.score_blocks,
    }[phase]


def phase_name(phase: tasks_pb2.TaskPhase) -> str:
    """A TaskPhase's short name (commit, reveal, score)."""
    return _NAMES[phase]


def compute_phase(task: tasks_pb2.Task) -> Phase:
    """The phase of the block after the task's last end-block (the one a new tx lands in)."""
    if task.status == tasks_pb2.TASK_STATUS_JOINING:
        return Phase(JOIN, 0, compute_join_end(task))
    if task.status != tasks_pb2.TASK_STATUS_RUNNING:
        return Phase(DONE, task.rounds_done, 0)
    if task.closed_height:  # its end_height is the height the phase closed at
        return Phase(CLOSING, task.rounds_done + 1, task.closed_height)
    end = task.phase_start_height + phase_blocks(task.schedule, task.phase) - 1
    return Phase(phase_name(task.phase), task.rounds_done + 1, end)


def is_phase_complete(task: tasks_pb2.Task, progress: tasks_pb2.RoundProgress) -> bool:
    """Whether a running task's commit or reveal phase has all its work, given the open round's
    counts (the score phase's is the committee's to say)."""
    if task.status != tasks_pb2.TASK_STATUS_RUNNING:
        return False
    if task.phase == tasks_pb2.TASK_PHASE_COMMIT:
        return progress.commits >= task.worker_count > 0
    if task.phase == tasks_pb2.TASK_PHASE_REVEAL:
        return progress.reveals >= progress.commits > 0
    return False


def compute_step_work(task: tasks_pb2.Task, reveals: int, scoring_work: int | None = None) -> int:
    """The price of a closed phase's end-block step against the block budget, in entry operations.

    Ending a round: its aggregation at the revealed count (compute_work, at most what the task was
    admitted for at max_workers), and never less than its bookkeeping. Opening a scored round's
    committee (scoring_work given, the committee's sampling cost): the bookkeeping plus that.
    """
    overhead = STEP_WORK + reveals * UPDATE_WORK
    if scoring_work is not None:
        return overhead + scoring_work
    rule = make_params(task.aggregation.rule, {p.name: p.value for p in task.aggregation.params})
    return max(overhead, compute_work(task.aggregation.rule, rule, reveals, model_param_count(task.model)))


def is_within_budget(spent: int, work: int, budget: int) -> bool:
    """Whether a step of work runs in a block whose steps so far cost spent: while the total stays
    within budget, and always as the block's first step (so every block makes progress)."""
    return spent == 0 or spent + work <= budget


def compute_commitment(
    task_id: int,
    round_: int,
    worker: bytes,
    salt: bytes,
    num_samples: int,
    update: bytes,
    trace: bytes = b"",
    data_spec: str = "",
) -> bytes:
    """Return the hash a worker commits to: it binds the task, round, worker, salt and update.

    Binding the worker's address stops a free-rider from re-submitting someone else's commitment;
    the 32-byte salt stops anyone from confirming a guessed update against it. On trace tasks the
    training trace and the shard it was trained on are bound too (nothing is added otherwise, so
    commitments of other tasks are unchanged).
    """
    digest = hashlib.sha256(COMMIT_DOMAIN)
    for part in (u64be(task_id), round_.to_bytes(4, "big"), worker, salt, u64be(num_samples)):
        digest.update(part)
    digest.update(hashlib.sha256(update).digest())
    if trace:
        digest.update(hashlib.sha256(trace).digest())
        digest.update(hashlib.sha256(data_spec.encode()).digest())
    return digest.digest()


def compute_reward_shares(reward: int, accepted: dict[bytes, int]) -> tuple[dict[bytes, int], int]:
    """Split reward in proportion to accepted updates; return (share per worker, remainder).

    Shares are floored, so they never sum above the reward; the remainder (and the whole reward
    when no update was accepted) goes back to the owner.
    """
    total = sum(accepted.values())
    if total == 0:
        return {}, reward
    shares = {worker: reward * count // total for worker, count in sorted(accepted.items()) if count}
    return shares, reward - sum(shares.values())


def compute_slash(stake: int, already_slashed: int, fraction_bps: int) -> int:
    """Stake to take for one offence: a fraction of the whole stake, never more than what is left."""
    return min(stake * fraction_bps // 10_000, stake - already_slashed)
