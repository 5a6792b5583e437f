"""A CometBFT light client: verifies headers, validator sets and commits itself (DESIGN.md 10)."""

from app.client.light.client import HeaderSource, LightClient, TrustOptions, now_timestamp
from app.client.light.errors import (
    ChainIdMismatch,
    HeaderExpired,
    HeaderFromFuture,
    InsufficientTrust,
    InsufficientVotingPower,
    InvalidCommit,
    InvalidHeaderHash,
    InvalidSignature,
    InvalidValidatorSet,
    LightClientError,
    MalformedData,
    NonMonotonic,
)
from app.client.light.store import TrustedStore

__all__ = [
    "LightClient",
    "TrustOptions",
    "HeaderSource",
    "TrustedStore",
    "now_timestamp",
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
