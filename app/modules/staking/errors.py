"""staking errors (codespace "staking"); codes are never renumbered."""

from __future__ import annotations

from app.core.errors import register

__all__ = [
    "ErrValidatorExists",
    "ErrConsensusKeyTaken",
    "ErrNoValidator",
    "ErrBadDenom",
    "ErrSelfBondTooSmall",
    "ErrNoDelegation",
    "ErrInsufficientShares",
    "ErrNotJailed",
    "ErrTombstoned",
    "ErrJailPeriod",
    "ErrInvalidConsensusKey",
    "ErrValidatorHasNoTokens",
]

ErrValidatorExists = register("staking", 2, "validator already exists for this operator")
ErrConsensusKeyTaken = register("staking", 3, "consensus key already used by another validator")
ErrNoValidator = register("staking", 4, "validator does not exist")
ErrBadDenom = register("staking", 5, "wrong denomination for staking")
ErrSelfBondTooSmall = register("staking", 6, "self-bond below the minimum")
ErrNoDelegation = register("staking", 7, "no delegation to this validator")
ErrInsufficientShares = register("staking", 8, "not enough delegated tokens")
ErrNotJailed = register("staking", 9, "validator is not jailed")
ErrTombstoned = register("staking", 10, "validator is tombstoned for double signing")
ErrJailPeriod = register("staking", 11, "jail period has not ended")
ErrInvalidConsensusKey = register("staking", 12, "invalid consensus public key")
ErrValidatorHasNoTokens = register("staking", 13, "validator has no tokens (slashed to zero)")
