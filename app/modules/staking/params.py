"""staking parameters."""

from __future__ import annotations

from app.core.coins import parse_amount, validate_denom
from synod.staking.v1 import staking_pb2

__all__ = ["default_params", "validate_params"]


def default_params() -> staking_pb2.Params:
    """Defaults: 14-day unbonding, 100 validators, 1 power per 10^6 usyn."""
    return staking_pb2.Params(
        unbonding_seconds=14 * 24 * 3600,
        max_validators=100,
        power_reduction="1000000",
        bond_denom="usyn",
        min_self_bond="1000000",
    )


def validate_params(p: staking_pb2.Params) -> None:
    """Reject unusable parameters."""
    validate_denom(p.bond_denom)
    if p.max_validators == 0:
        raise ValueError("staking.max_validators must be positive")
    for name in ("power_reduction", "min_self_bond"):
        parse_amount(getattr(p, name), f"staking.{name}")
