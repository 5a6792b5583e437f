"""What the consensus module needs from other modules, declared by the consumer."""

from __future__ import annotations

from typing import Protocol

from app.core.coins import Coins
from app.state.kv import KVStore
from synod.committee.v1 import committee_pb2
from synod.staking.v1 import staking_pb2

__all__ = ["ConsensusBank", "ConsensusSeeds", "ConsensusStaking"]


class ConsensusBank(Protocol):
    """Escrow rewards and stakes in the consensus module account, pay them out, burn slashed stake."""

    def send_coins_from_account_to_module(
        self, store: KVStore, sender: bytes, module: str, coins: Coins
    ) -> None: ...

    def send_coins_from_module_to_account(
        self, store: KVStore, module: str, recipient: bytes, coins: Coins
    ) -> None: ...

    def burn_coins(self, store: KVStore, module: str, coins: Coins) -> None: ...


class ConsensusSeeds(Protocol):
    """The randomness beacon (committee module): peer samples are drawn from its latest seed."""

    def get_seed(self, store: KVStore) -> committee_pb2.Seed | None: ...


class ConsensusStaking(Protocol):
    """Validators and their last voting powers: only bonded validators register ensemble models."""

    def get_validator(self, store: KVStore, operator: bytes) -> staking_pb2.Validator | None: ...

    def get_last_powers(self, store: KVStore) -> dict[bytes, int]: ...
