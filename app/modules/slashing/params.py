"""slashing parameters."""

from __future__ import annotations

from synod.slashing.v1 import slashing_pb2

__all__ = ["default_params", "validate_params"]


def default_params() -> slashing_pb2.Params:
    """Defaults: sign half of 100 blocks; 5% for double signing, 1% and 10 minutes for downtime."""
    return slashing_pb2.Params(
        signed_blocks_window=100,
        min_signed_per_window_bps=5000,
        downtime_jail_seconds=600,
        slash_fraction_double_sign_bps=500,
        slash_fraction_downtime_bps=100,
    )


def validate_params(p: slashing_pb2.Params) -> None:
    """Reject unusable parameters."""
    if p.signed_blocks_window <= 0:
        raise ValueError("slashing.signed_blocks_window must be positive")
    for name in (
        "min_signed_per_window_bps",
        "slash_fraction_double_sign_bps",
        "slash_fraction_downtime_bps",
    ):
        if getattr(p, name) > 10_000:
            raise ValueError(f"slashing.{name} is in basis points and cannot exceed 10000")
    if p.downtime_jail_seconds < 0:
        raise ValueError("slashing.downtime_jail_seconds cannot be negative")
