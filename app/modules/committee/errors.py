"""committee errors (codespace "committee"); codes are never renumbered."""

from __future__ import annotations

from app.core.errors import register

__all__ = [
    "ErrAlreadyAttested",
    "ErrAlreadyCommitted",
    "ErrAlreadyDealt",
    "ErrAlreadyMember",
    "ErrBadAttestation",
    "ErrBadBeacon",
    "ErrBadBlsKey",
    "ErrBadComplaint",
    "ErrBadDealing",
    "ErrBadDirection",
    "ErrBadJustification",
    "ErrBadReveal",
    "ErrDkgPhase",
    "ErrNoCommitment",
    "ErrNoCommittee",
    "ErrNoDkg",
    "ErrNoEpochSeed",
    "ErrNoScores",
    "ErrNoSeed",
    "ErrNotDkgMember",
    "ErrNotMember",
    "ErrNotOnCommittee",
    "ErrNotValidator",
    "ErrWrongPhase",
    "ErrWrongWindow",
]

ErrNotValidator = register("committee", 2, "only a bonded validator may join committees")
ErrAlreadyMember = register("committee", 3, "already on committee duty")
ErrBadBlsKey = register("committee", 4, "BLS public key or proof of possession is invalid")
ErrNotMember = register("committee", 5, "not on committee duty")
ErrNoCommittee = register("committee", 6, "no committee for this task and round")
ErrNotOnCommittee = register("committee", 7, "not a seat of this committee")
ErrWrongPhase = register("committee", 8, "attestation outside the round's score phase")
ErrAlreadyAttested = register("committee", 9, "already attested this round")
ErrBadAttestation = register("committee", 10, "attestation does not match the committee's updates")
ErrBadBeacon = register("committee", 11, "beacon transaction is invalid")
ErrNoScores = register("committee", 12, "this round has not been judged yet")
ErrNoSeed = register("committee", 13, "no beacon seed yet")
ErrAlreadyCommitted = register("committee", 14, "already committed to an attestation this round")
ErrNoCommitment = register("committee", 15, "no attestation commitment to reveal this round")
ErrBadReveal = register("committee", 16, "the attestation does not open its commitment")
ErrWrongWindow = register("committee", 17, "outside the score phase's commit or reveal window")
ErrBadDirection = register("committee", 18, "direction outside [-10000, 10000] basis points")
ErrNoDkg = register("committee", 20, "no DKG in progress with this id")
ErrDkgPhase = register("committee", 21, "DKG message outside its phase")
ErrNotDkgMember = register("committee", 22, "not a participant of this DKG")
ErrBadDealing = register("committee", 23, "dealing is malformed")
ErrAlreadyDealt = register("committee", 24, "already dealt in this DKG")
ErrBadComplaint = register("committee", 25, "complaint is invalid")
ErrBadJustification = register("committee", 26, "justification does not answer a complaint")
ErrNoEpochSeed = register("committee", 27, "no group seed for this epoch")
