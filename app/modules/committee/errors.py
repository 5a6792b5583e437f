"""committee errors (codespace "committee"); codes are never renumbered."""

from __future__ import annotations

from app.core.errors import register

__all__ = [
    "ErrAlreadyAttested",
    "ErrAlreadyMember",
    "ErrBadAttestation",
    "ErrBadBeacon",
    "ErrBadBlsKey",
    "ErrBadDirection",
    "ErrNoCommittee",
    "ErrNoScores",
    "ErrNoSeed",
    "ErrNotMember",
    "ErrNotOnCommittee",
    "ErrNotValidator",
    "ErrWrongPhase",
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
ErrBadDirection = register("committee", 18, "direction outside [-10000, 10000] basis points")
