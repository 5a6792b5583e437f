"""auth store keys: module prefix 0x01, then one-byte tables."""

from __future__ import annotations

__all__ = ["STORE_PREFIX", "PARAMS", "ACCOUNT", "NEXT_ACCOUNT_NUMBER", "TABLES", "account_key"]

STORE_PREFIX = b"\x01"

PARAMS = b"\x00"  # -> auth.v1.Params
ACCOUNT = b"\x01"  # + address(20) -> auth.v1.BaseAccount
NEXT_ACCOUNT_NUMBER = b"\x02"  # -> u64be, the number the next new account gets

TABLES = {"params": PARAMS, "account": ACCOUNT, "next_account_number": NEXT_ACCOUNT_NUMBER}


def account_key(address: bytes) -> bytes:
    """Key of an account by its 20 raw address bytes."""
    return ACCOUNT + address
