"""staking genesis: default, validate, init (bonding genesis validators), export."""

from __future__ import annotations

from app.core.coins import parse_amount
from app.core.crypto import PUBKEY_LEN, decode_address
from app.modules.staking.keeper import StakingKeeper
from app.modules.staking.params import default_params, validate_params
from app.state.kv import KVStore
from synod.staking.v1 import staking_pb2

__all__ = ["default_genesis", "validate_genesis", "init_genesis"]


def default_genesis() -> staking_pb2.GenesisState:
    """Default params, no validators (CometBFT's genesis validators then stand alone)."""
    return staking_pb2.GenesisState(params=default_params())


def validate_genesis(gs: staking_pb2.GenesisState) -> None:
    """Params usable; each validator has a unique operator and key and a positive self-bond."""
    validate_params(gs.params)
    operators, pubkeys = set(), set()
    for v in gs.validators:
        decode_address(v.operator_address)
        if len(v.consensus_pubkey) != PUBKEY_LEN:
            raise ValueError(f"staking genesis: {v.operator_address} consensus key is not 32 bytes")
        if parse_amount(v.self_bond, "self_bond") < int(gs.params.min_self_bond):
            raise ValueError(f"staking genesis: {v.operator_address} self_bond below min_self_bond")
        if v.operator_address in operators or v.consensus_pubkey in pubkeys:
            raise ValueError(f"staking genesis: {v.operator_address} operator or key listed twice")
        operators.add(v.operator_address)
        pubkeys.add(v.consensus_pubkey)


def init_genesis(store: KVStore, k: StakingKeeper, gs: staking_pb2.GenesisState) -> list[tuple[bytes, int]]:
    """Bond each genesis validator from its operator's balance; return the initial validator set."""
    validate_genesis(gs)
    k.set_params(store, gs.params)
    for gv in gs.validators:
        v = k.new_validator(gv.operator_address, gv.consensus_pubkey, gv.moniker)
        k.add_tokens(store, decode_address(gv.operator_address), v, int(gv.self_bond))
    return k.apply_validator_set(store)
