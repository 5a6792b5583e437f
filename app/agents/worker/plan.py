"""The worker's next step as a pure function of what the chain and its state files say.

The worker is level-triggered: every poll it observes the task's phase, its own commitment and
reveal for the current round, and the update it saved for that round, and decide_action picks one
step. A restarted worker therefore reconciles by construction: it never trains a second update for
a round it already saved one for (it re-sends the saved commitment, which the chain refuses if it
already landed), and it reveals exactly what it saved when the chain holds that commitment.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["TERMINAL_PHASES", "Action", "Observation", "decide_action", "is_time_to_prepare"]

# Phases the /tasks/task query reports once a task has ended (app/modules/tasks/query_server.py).
TERMINAL_PHASES = frozenset({"finished", "cancelled", "failed"})


class Action(enum.Enum):
    """One step of the worker loop."""

    EXIT = "exit"  # the task ended
    JOIN = "join"  # join phase, not yet a participant
    WAIT = "wait"  # nothing to do until the phase changes
    TRAIN_AND_COMMIT = "train-and-commit"  # commit phase, nothing saved or committed this round
    COMMIT_SAVED = "commit-saved"  # commit phase, saved before a crash but not (yet) on chain
    REVEAL = "reveal"  # reveal phase, the chain holds the commitment of the saved update
    MISSED = "missed"  # reveal (or later) with no commitment of ours: the round is skipped
    CANNOT_REVEAL = "cannot-reveal"  # our commitment is on chain but no matching saved update
    NOT_PARTICIPANT = "not-participant"  # rounds are running and we never joined


@dataclass(frozen=True)
class Observation:
    """One poll: the phase the next block falls in, and our part in the current round."""

    phase: str
    round: int
    joined: bool
    commitment: bytes | None = None  # our commitment on chain for this round
    revealed: bool = False  # our reveal is on chain for this round
    saved_commitment: bytes | None = None  # the commitment of the update saved for this round


def _commit_phase(obs: Observation) -> Action:
    """Commit phase: commit once, reusing a saved update if there is one."""
    if obs.commitment is not None:
        return Action.WAIT if obs.saved_commitment == obs.commitment else Action.CANNOT_REVEAL
    return Action.TRAIN_AND_COMMIT if obs.saved_commitment is None else Action.COMMIT_SAVED


def _reveal_phase(obs: Observation) -> Action:
    """Reveal phase: reveal what the chain holds our commitment to, once."""
    if obs.revealed:
        return Action.WAIT
    if obs.commitment is None:
        return Action.MISSED
    return Action.REVEAL if obs.saved_commitment == obs.commitment else Action.CANNOT_REVEAL


def decide_action(obs: Observation) -> Action:
    """The step to take now."""
    if obs.phase in TERMINAL_PHASES:
        return Action.EXIT
    if obs.phase == "join":
        return Action.WAIT if obs.joined else Action.JOIN
    if not obs.joined:
        return Action.NOT_PARTICIPANT
    if obs.phase == "commit":
        return _commit_phase(obs)
    if obs.phase == "reveal":
        return _reveal_phase(obs)
    # score (and "done", which a closed task reports as finished): nothing to send.
    return Action.WAIT


def is_time_to_prepare(obs: Observation, rounds: int) -> bool:
    """True when there is idle time for slow preparation (imports, compiling) before a later round.

    That is the join phase, or a round we already revealed in, with rounds still to come: never
    while a reveal of ours is pending, which must not wait behind a compile.
    """
    return (obs.phase == "join" or obs.revealed) and obs.round < rounds
