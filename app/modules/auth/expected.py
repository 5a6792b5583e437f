"""What auth needs from other modules."""

from __future__ import annotations

from typing import Protocol

from app.core.coins import Coins
from app.state.kv import KVStore

__all__ = ["FeeBank"]


class FeeBank(Protocol):
    """The bank, as seen by the fee deduction in the ante handler."""

    def send_coins_from_account_to_module(
        self, store: KVStore, sender: bytes, module: str, coins: Coins
    ) -> None: ...
