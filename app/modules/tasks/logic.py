"""Pure rules of the tasks module: the round schedule, commitments and reward shares.

Schedule (all heights inclusive). A task posted at height P has its join phase at
[P, P + join - 1]. Round r (1-based) occupies L = commit + reveal + score blocks starting at
b_r = P + join + (r - 1) * L: commit [b_r, b_r + commit - 1], reveal next, then score. The join
phase is closed, and round r aggregated, in the end-block of the phase's last height, after that
block's transactions, so a message included at that height still counts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from app.core.codec import u64be
from synod.tasks.v1 import tasks_pb2

__all__ = [
    "COMMIT_DOMAIN",
    "Phase",
    "compute_commitment",
    "compute_join_end",
    "compute_phase",
    "compute_reveal_end",
    "compute_reward_shares",
    "compute_round_end",
    "compute_slash",
    "compute_round_start",
]

COMMIT_DOMAIN = b"synod/tasks/commit/v1"
JOIN, COMMIT, REVEAL, SCORE, DONE = "join", "commit", "reveal", "score", "done"


@dataclass(frozen=True)
class Phase:
    """Where a task stands at a height: phase name, round (0 while joining) and the phase's last height."""

    name: str
    round: int
    end_height: int


def _round_length(s: tasks_pb2.Schedule) -> int:
    """Blocks per round."""
    return s.commit_blocks + s.reveal_blocks + s.score_blocks


def compute_join_end(task: tasks_pb2.Task) -> int:
    """Last height of the join phase."""
    return task.start_height + task.schedule.join_blocks - 1


def compute_round_start(task: tasks_pb2.Task, round_: int) -> int:
    """First height of round round_ (1-based)."""
    return compute_join_end(task) + 1 + (round_ - 1) * _round_length(task.schedule)


def compute_round_end(task: tasks_pb2.Task, round_: int) -> int:
    """Last height of round round_, whose end-block aggregates it."""
    return compute_round_start(task, round_ + 1) - 1


def compute_reveal_end(task: tasks_pb2.Task, round_: int) -> int:
    """Last height of round round_'s reveal phase, whose end-block samples the round's committee."""
    s = task.schedule
    return compute_round_start(task, round_) + s.commit_blocks + s.reveal_blocks - 1


def compute_phase(task: tasks_pb2.Task, height: int) -> Phase:
    """Return the phase of task at height, judged by the schedule alone (not the status)."""
    s = task.schedule
    if height <= compute_join_end(task):
        return Phase(JOIN, 0, compute_join_end(task))
    if height > compute_round_end(task, s.rounds):
        return Phase(DONE, s.rounds, compute_round_end(task, s.rounds))
    round_ = (height - compute_join_end(task) - 1) // _round_length(s) + 1
    offset = height - compute_round_start(task, round_)
    start = compute_round_start(task, round_)
    if offset < s.commit_blocks:
        return Phase(COMMIT, round_, start + s.commit_blocks - 1)
    if offset < s.commit_blocks + s.reveal_blocks:
        return Phase(REVEAL, round_, start + s.commit_blocks + s.reveal_blocks - 1)
    return Phase(SCORE, round_, compute_round_end(task, round_))


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
