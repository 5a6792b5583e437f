"""The committee member's next step for one (task, round), as a pure function of what the chain says.

Like the worker, the member is level-triggered: every poll it looks at each committee-verified task
in the phase of the next block, at the round's committee and at the commitments and attestations
already on chain, and decide_action picks one step: commit in the score phase's commit window,
reveal in its reveal window. A restarted member therefore never commits or reveals twice: the
chain's record is what it checks; its own memory (app/agents/committee/state.py) only keeps the
salted reveal that the chain's commitment needs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.modules.tasks.logic import SCORE
from synod.committee.v1 import committee_pb2
from synod.tasks.v1 import tasks_pb2

__all__ = [
    "Action",
    "Observation",
    "decide_action",
    "is_committee_task",
    "is_revealing",
    "is_seated",
    "has_attested",
]


class Action(enum.Enum):
    """One step for one (task, round)."""

    IDLE = "idle"  # not the round's score phase: nothing to do yet
    NO_COMMITTEE = "no-committee"  # score phase, but no committee was sampled (no member, no reveal)
    NOT_SEATED = "not-seated"  # the committee holds no seat of ours
    ATTESTED = "attested"  # the chain holds our revealed attestation already
    COMMIT = "commit"  # seated, commit window, no commitment of ours yet: evaluate, save, commit
    WAIT = "wait"  # committed; the reveal window has not opened yet
    REVEAL = "reveal"  # committed, reveal window: send the saved reveal
    TOO_LATE = "too-late"  # reveal window and no commitment of ours: this round is missed


@dataclass(frozen=True)
class Observation:
    """One (task, round) as of the next block."""

    phase: str
    round: int
    committee: committee_pb2.Committee | None = None  # None: not sampled (or not asked, outside score)
    seated: bool = False
    attested: bool = False
    committed: bool = False  # the chain holds our commitment
    revealing: bool = False  # the next block is in the reveal window (or every seat has committed)


def is_committee_task(task: tasks_pb2.Task) -> bool:
    """True for a joining or running task whose rounds have a score phase (committees score its updates).

    Joining ones too: a member loads the evaluation data and compiles scoring during the join phase,
    so it is ready for round 1's score phase.
    """
    live = (tasks_pb2.TASK_STATUS_JOINING, tasks_pb2.TASK_STATUS_RUNNING)
    return task.status in live and task.schedule.score_blocks > 0


def is_seated(committee: committee_pb2.Committee, operator: str) -> bool:
    """True if operator holds a seat of the committee."""
    return any(seat.operator == operator for seat in committee.seats)


def has_attested(attestations: list[committee_pb2.Attestation], operator: str) -> bool:
    """True if the chain already holds operator's attestation among these."""
    return any(a.attester == operator for a in attestations)


def is_revealing(
    next_height: int,
    reveal_start: int,
    commitments: list[committee_pb2.AttestationCommitment],
    committee: committee_pb2.Committee,
) -> bool:
    """True if a reveal sent now lands in the reveal window: its last blocks, or once every seat has
    committed (the chain's rule, msg_server._attest)."""
    return next_height >= reveal_start or len(commitments) >= len(committee.seats)


def decide_action(obs: Observation) -> Action:
    """The step to take now for this (task, round)."""
    if obs.phase != SCORE:
        return Action.IDLE
    # A committee waiting for its epoch's group seed (no seats yet) is looked at again, like none.
    if obs.committee is None or (obs.committee.seed_epoch and not obs.committee.seats):
        return Action.NO_COMMITTEE
    if not obs.seated:
        return Action.NOT_SEATED
    if obs.attested:
        return Action.ATTESTED
    if obs.committed:
        return Action.REVEAL if obs.revealing else Action.WAIT
    return Action.TOO_LATE if obs.revealing else Action.COMMIT
