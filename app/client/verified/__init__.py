"""Verified reads: gRPC answers checked against headers the light client verified (DESIGN.md 10)."""

from app.client.verified.errors import (
    BadPagination,
    HeaderUnavailable,
    MalformedProof,
    MissingProof,
    StaleAnswer,
    TamperedAnswer,
    TamperedEntry,
    VerificationError,
    WrongHeight,
    WrongKey,
)
from app.client.verified.proven import ProvenReader, ProvenState
from app.client.verified.querier import Freshness, Verified, VerifiedQuerier, verify_answer
from app.client.verified.trust import (
    DEFAULT_TRUSTING_PERIOD_S,
    LightNotInitialized,
    MalformedTrust,
    TrustState,
    has_trust,
    init_trust,
    light_dir,
    load_trust,
    open_light_client,
    open_verified_querier,
)

__all__ = [
    "DEFAULT_TRUSTING_PERIOD_S",
    "BadPagination",
    "Freshness",
    "HeaderUnavailable",
    "LightNotInitialized",
    "MalformedTrust",
    "MalformedProof",
    "MissingProof",
    "ProvenReader",
    "ProvenState",
    "StaleAnswer",
    "TamperedAnswer",
    "TamperedEntry",
    "TrustState",
    "Verified",
    "VerificationError",
    "VerifiedQuerier",
    "WrongHeight",
    "WrongKey",
    "has_trust",
    "init_trust",
    "light_dir",
    "load_trust",
    "open_light_client",
    "open_verified_querier",
    "verify_answer",
]
