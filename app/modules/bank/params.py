"""bank parameters."""

from __future__ import annotations

from synod.bank.v1 import bank_pb2

__all__ = ["default_params", "validate_params"]


def default_params() -> bank_pb2.Params:
    """Defaults."""
    return bank_pb2.Params(max_send_denoms=8)


def validate_params(p: bank_pb2.Params) -> None:
    """Reject unusable params."""
    if p.max_send_denoms == 0:
        raise ValueError("bank.max_send_denoms must be positive")
