"""tasks errors (codespace "tasks"); codes are never renumbered."""

from __future__ import annotations

from app.core.errors import register

__all__ = [
    "ErrAlreadyCommitted",
    "ErrAlreadyJoined",
    "ErrAlreadyRevealed",
    "ErrBadUpdate",
    "ErrCommitmentMismatch",
    "ErrInvalidInputShape",
    "ErrInvalidTask",
    "ErrNoCommitment",
    "ErrNotOwner",
    "ErrNotParticipant",
    "ErrPruned",
    "ErrTaskClosed",
    "ErrTaskFull",
    "ErrTooManySamples",
    "ErrTaskNotFound",
    "ErrWrongPhase",
    "ErrWrongRound",
]

ErrInvalidTask = register("tasks", 2, "invalid task parameters")
ErrTaskNotFound = register("tasks", 3, "task not found")
ErrWrongPhase = register("tasks", 4, "message outside its phase")
ErrTaskFull = register("tasks", 5, "task has its maximum number of workers")
ErrAlreadyJoined = register("tasks", 6, "already joined this task")
ErrNotParticipant = register("tasks", 7, "not a worker of this task")
ErrAlreadyCommitted = register("tasks", 8, "already committed an update this round")
ErrNoCommitment = register("tasks", 9, "no commitment to reveal")
ErrCommitmentMismatch = register("tasks", 10, "reveal does not match the commitment")
ErrAlreadyRevealed = register("tasks", 11, "already revealed this round")
ErrBadUpdate = register("tasks", 12, "update has the wrong size or range")
ErrNotOwner = register("tasks", 13, "only the task owner may do this")
ErrWrongRound = register("tasks", 14, "message names a round that is not the current one")
ErrTaskClosed = register("tasks", 15, "task is no longer open")
ErrInvalidInputShape = register("tasks", 16, "model input_shape does not fit n_features")
ErrPruned = register("tasks", 17, "checkpoint weights pruned under the retention policy")
ErrTooManySamples = register("tasks", 18, "num_samples is over tasks.max_num_samples")
