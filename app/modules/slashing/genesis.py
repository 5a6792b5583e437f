"""slashing genesis: params only (signing info starts when a validator is first seen)."""

from __future__ import annotations

from app.modules.slashing.keeper import SlashingKeeper
from app.modules.slashing.params import default_params, validate_params
from app.state.kv import KVStore
from synod.slashing.v1 import slashing_pb2

__all__ = ["default_genesis", "init_genesis"]


def default_genesis() -> slashing_pb2.GenesisState:
    """Default params."""
    return slashing_pb2.GenesisState(params=default_params())


def init_genesis(store: KVStore, k: SlashingKeeper, gs: slashing_pb2.GenesisState) -> None:
    """Validate and store params."""
    validate_params(gs.params)
    k.set_params(store, gs.params)
