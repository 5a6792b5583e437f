"""The predictor's next step as a pure function of what the chain, its state files and its own
transactions say.

Like the worker it is level-triggered: every poll it observes the query's phase and round (as of
the next block), whether it is registered, whether predictions are saved for the round, and
whether the chain took its commitment and reveal (learnt from the transactions' outcomes, since the
chain shows a round's reveals only once the round has closed). A restarted predictor never makes
second, different predictions for a round it saved some for: it re-sends the saved commitment,
which the chain refuses as already committed if it landed, and reveals exactly what it saved.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "FAST_PHASE",
    "RUNNING_PHASES",
    "TERMINAL_PHASES",
    "Action",
    "Observation",
    "decide_action",
    "is_time_to_prepare",
]

# Phases /consensus/query reports (app/modules/consensus): the two of a running round, the ends.
RUNNING_PHASES = frozenset({"commit", "reveal"})
TERMINAL_PHASES = frozenset({"settled", "closed", "expired"})
FAST_PHASE = "pending"


class Action(enum.Enum):
    """One step of the predictor loop."""

    EXIT = "exit"  # the query settled (or closed, or expired)
    FAST = "fast"  # a fast query: the validators answer it, not participants
    WAIT = "wait"  # nothing to do until the phase changes
    REGISTER = "register"  # round 0 commit phase, not registered: register and commit in one tx
    NOT_PARTICIPANT = "not-participant"  # past round 0's commit phase and never registered
    PREDICT_AND_COMMIT = "predict-and-commit"  # commit phase, nothing saved this round
    COMMIT_SAVED = "commit-saved"  # commit phase, saved (before a crash) but not known on chain
    REVEAL = "reveal"  # reveal phase, predictions saved and not yet revealed
    MISSED = "missed"  # reveal phase with nothing saved: the round's commit phase passed us by


@dataclass(frozen=True)
class Observation:
    """One poll: the phase the next block falls in, and our part in the current round."""

    phase: str
    round: int
    registered: bool
    saved: bool = False  # predictions for this round are in the state directory
    committed: bool = False  # the chain holds our commitment for this round
    revealed: bool = False  # the chain holds our reveal for this round (or refused it for good)


def _commit_phase(obs: Observation) -> Action:
    """Commit phase: commit once, reusing saved predictions if there are some."""
    if obs.committed:
        return Action.WAIT
    return Action.COMMIT_SAVED if obs.saved else Action.PREDICT_AND_COMMIT


def _reveal_phase(obs: Observation) -> Action:
    """Reveal phase: reveal what was saved, once."""
    if obs.revealed:
        return Action.WAIT
    return Action.REVEAL if obs.saved else Action.MISSED


def decide_action(obs: Observation) -> Action:
    """The step to take now."""
    if obs.phase in TERMINAL_PHASES:
        return Action.EXIT
    if obs.phase == FAST_PHASE:
        return Action.FAST
    if obs.phase not in RUNNING_PHASES:
        return Action.WAIT  # "waiting" for round 0, or "done" until the settling end-block
    if not obs.registered:
        if obs.phase == "commit" and obs.round == 0:
            return Action.REGISTER
        return Action.NOT_PARTICIPANT
    return _commit_phase(obs) if obs.phase == "commit" else _reveal_phase(obs)


def is_time_to_prepare(obs: Observation, rounds: int) -> bool:
    """True when there is idle time to train and fetch the inputs before a later round's commit.

    That is a round we already revealed in, with rounds still to come: never while a reveal of ours
    is pending, which must not wait behind training.
    """
    return obs.revealed and obs.round < rounds
