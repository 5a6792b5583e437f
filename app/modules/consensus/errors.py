"""consensus errors (codespace "consensus"); codes are never renumbered."""

from __future__ import annotations

from app.core.errors import register

__all__ = [
    "ErrAlreadyCommitted",
    "ErrAlreadyRegistered",
    "ErrAlreadyRevealed",
    "ErrBadCommitment",
    "ErrBadEnsemble",
    "ErrBadLabels",
    "ErrBadPredictions",
    "ErrBadStake",
    "ErrCommitmentMismatch",
    "ErrFastQuery",
    "ErrInvalidModel",
    "ErrInvalidQuery",
    "ErrLabelsMismatch",
    "ErrNoCommitment",
    "ErrNoLabelsCommitment",
    "ErrNoModel",
    "ErrNoRound",
    "ErrNotParticipant",
    "ErrNotPoster",
    "ErrNotSettled",
    "ErrNotValidator",
    "ErrQueryFull",
    "ErrQueryNotFound",
    "ErrTooManyPending",
    "ErrWrongPhase",
    "ErrWrongRound",
]

ErrInvalidQuery = register("consensus", 2, "invalid query parameters")
ErrQueryNotFound = register("consensus", 3, "query not found")
ErrWrongPhase = register("consensus", 4, "message outside its phase")
ErrWrongRound = register("consensus", 5, "message names a round that is not the current one")
ErrQueryFull = register("consensus", 6, "query has its maximum number of participants")
ErrAlreadyRegistered = register("consensus", 7, "already registered for this query")
ErrNotParticipant = register("consensus", 8, "not a participant of this query")
ErrAlreadyCommitted = register("consensus", 9, "already committed predictions this round")
ErrNoCommitment = register("consensus", 10, "no commitment to reveal")
ErrAlreadyRevealed = register("consensus", 11, "already revealed this round")
ErrCommitmentMismatch = register("consensus", 12, "reveal does not match the commitment")
ErrBadPredictions = register("consensus", 13, "predictions are malformed for this query")
ErrBadStake = register("consensus", 14, "stake is below the query's minimum or in the wrong denom")
ErrNotPoster = register("consensus", 15, "only the query's poster may do this")
ErrBadLabels = register("consensus", 16, "labels are malformed for this query")
ErrLabelsMismatch = register("consensus", 17, "labels and salt do not match the labels commitment")
ErrFastQuery = register("consensus", 18, "fast queries are answered by the validators, not by participants")
ErrNotValidator = register("consensus", 19, "only a bonded validator may register an ensemble model")
ErrNoModel = register("consensus", 20, "no ensemble model registered")
ErrNotSettled = register("consensus", 21, "query has not been settled yet")
ErrNoRound = register("consensus", 22, "round has not closed yet")
ErrBadCommitment = register("consensus", 23, "commitment or salt has the wrong length")
ErrInvalidModel = register("consensus", 24, "model description is too long")
ErrTooManyPending = register(
    "consensus", 25, "too many fast queries are pending (consensus.max_pending_fast_queries)"
)
ErrNoLabelsCommitment = register(
    "consensus", 26, "query was posted without a labels commitment: it pays by agreement only"
)
# The fast path's block-level errors (ensemble.py) start at 40.
ErrBadEnsemble = register("consensus", 40, "malformed ensemble transaction")
