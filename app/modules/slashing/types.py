"""What the block tells slashing: misbehavior evidence and who signed the last block."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Misbehavior", "VoteInfo", "DUPLICATE_VOTE", "LIGHT_CLIENT_ATTACK"]

DUPLICATE_VOTE = "DUPLICATE_VOTE"
LIGHT_CLIENT_ATTACK = "LIGHT_CLIENT_ATTACK"


@dataclass(frozen=True)
class Misbehavior:
    """One piece of evidence CometBFT committed (FinalizeBlock.misbehavior)."""

    kind: str
    address: bytes
    power: int
    height: int
    time_seconds: int


@dataclass(frozen=True)
class VoteInfo:
    """A validator of the previous block and whether its vote made it (ABSENT = missed)."""

    address: bytes
    power: int
    signed: bool
