"""What the tasks module needs from other modules, declared by the consumer."""

from __future__ import annotations

from typing import Protocol

from app.core.coins import Coins
from app.state.kv import KVStore
from synod.tasks.v1 import tasks_pb2

__all__ = ["TasksBank", "UpdateJudge"]


class TasksBank(Protocol):
    """Escrow rewards and worker stakes in the tasks module account, and release them."""

    def send_coins_from_account_to_module(
        self, store: KVStore, sender: bytes, module: str, coins: Coins
    ) -> None: ...

    def send_coins_from_module_to_account(
        self, store: KVStore, module: str, recipient: bytes, coins: Coins
    ) -> None: ...


class UpdateJudge(Protocol):
    """Decides, at the end of a round, which revealed updates go into the aggregate.

    This is where scores arrive before aggregation: the committee module (a later issue) plugs in
    here; until then every revealed update is accepted.
    """

    def select_accepted(
        self, store: KVStore, task: tasks_pb2.Task, round_: int, revealed: list[bytes]
    ) -> list[bytes]: ...
