"""What staking needs from other modules."""

from __future__ import annotations

from typing import Protocol

from app.core.coins import Coins
from app.state.kv import KVStore

__all__ = ["StakingBank"]


class StakingBank(Protocol):
    """Escrow in and out of the bonded pool, and burning slashed tokens."""

    def send_coins_from_account_to_module(
        self, store: KVStore, sender: bytes, module: str, coins: Coins
    ) -> None: ...

    def send_coins_from_module_to_account(
        self, store: KVStore, module: str, recipient: bytes, coins: Coins
    ) -> None: ...

    def burn_coins(self, store: KVStore, module: str, coins: Coins) -> None: ...

    def get_balance(self, store: KVStore, address: bytes, denom: str) -> int: ...

    def module_account(self, name: str) -> bytes: ...
