"""tasks genesis: default, validate, init. Tasks are created by transactions, never at genesis."""

from __future__ import annotations

from app.modules.tasks.keeper import TasksKeeper
from app.modules.tasks.params import default_params, validate_params
from app.state.kv import KVStore
from synod.tasks.v1 import tasks_pb2

__all__ = ["default_genesis", "init_genesis"]


def default_genesis() -> tasks_pb2.GenesisState:
    """Default params."""
    return tasks_pb2.GenesisState(params=default_params())


def init_genesis(store: KVStore, k: TasksKeeper, gs: tasks_pb2.GenesisState) -> None:
    """Validate and store params."""
    validate_params(gs.params)
    k.set_params(store, gs.params)
