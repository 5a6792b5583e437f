"""bank store keys: module prefix 0x02, then one-byte tables."""

from __future__ import annotations

__all__ = ["STORE_PREFIX", "PARAMS", "BALANCE", "SUPPLY", "TABLES", "balance_key", "supply_key"]

STORE_PREFIX = b"\x02"

PARAMS = b"\x00"  # -> bank.v1.Params
BALANCE = b"\x01"  # + address(20) + denom -> amount (minimal big-endian); absent means zero
SUPPLY = b"\x02"  # + denom -> total amount in existence

TABLES = {"params": PARAMS, "balance": BALANCE, "supply": SUPPLY}


def balance_key(address: bytes, denom: str = "") -> bytes:
    """Key of one balance, or (with no denom) the prefix of all of an address's balances."""
    return BALANCE + address + denom.encode()


def supply_key(denom: str) -> bytes:
    """Key of a denom's total supply."""
    return SUPPLY + denom.encode()
