"""The light client's one exception hierarchy: every rejection names what failed."""

from __future__ import annotations

__all__ = [
    "LightClientError",
    "MalformedData",
    "InvalidHeaderHash",
    "InvalidValidatorSet",
    "InvalidCommit",
    "InsufficientVotingPower",
    "InsufficientTrust",
    "InvalidSignature",
    "HeaderExpired",
    "HeaderFromFuture",
    "ChainIdMismatch",
    "NonMonotonic",
]


class LightClientError(Exception):
    """Base class: a header, commit or validator set was rejected, or could not be read."""


class MalformedData(LightClientError):
    """RPC or store data is missing a field or holds a value of the wrong shape."""


class InvalidHeaderHash(LightClientError):
    """A header does not hash to the block id that its commit (or a trusted link) names."""


class InvalidValidatorSet(LightClientError):
    """A validator set does not hash to the header's validators hash, or is itself invalid."""


class InvalidCommit(LightClientError):
    """A commit is for another height or block, or its signatures do not line up with the set."""


class InsufficientVotingPower(LightClientError):
    """Too little voting power signed a commit."""

    def __init__(self, signed: int, needed: int, what: str) -> None:
        super().__init__(f"{what}: {signed} voting power signed, more than {needed} needed")
        self.signed = signed
        self.needed = needed


class InsufficientTrust(InsufficientVotingPower):
    """Too little of the *trusted* set signed a non-adjacent header: bisect, do not give up."""


class InvalidSignature(LightClientError):
    """A validator's commit signature does not verify over the canonical vote sign bytes."""


class HeaderExpired(LightClientError):
    """The trusted header is older than the trusting period: it can no longer vouch for others."""


class HeaderFromFuture(LightClientError):
    """A header's time lies beyond now plus the allowed clock drift."""


class ChainIdMismatch(LightClientError):
    """A header belongs to another chain."""


class NonMonotonic(LightClientError):
    """A new header does not move forward in height or time from the trusted one."""
