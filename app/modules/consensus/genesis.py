"""consensus genesis: default, validate, init. Queries are created by transactions, never at genesis;
genesis validators may start in the fast-path ensemble and addresses with a reputation."""

from __future__ import annotations

from app.core.crypto import AddressError, decode_address
from app.modules.consensus.expected import ConsensusStaking
from app.modules.consensus.keeper import ConsensusKeeper
from app.modules.consensus.params import MAX_MODEL_CHARS, default_params, validate_params
from app.state.kv import KVStore
from synod.consensus.v1 import consensus_pb2

__all__ = ["default_genesis", "init_genesis"]

_BPS = 10_000


def default_genesis() -> consensus_pb2.GenesisState:
    """Default params, no models, no reputations."""
    return consensus_pb2.GenesisState(params=default_params())


def _decode(address: str, what: str) -> bytes:
    """A raw address, or ValueError naming the genesis entry."""
    try:
        return decode_address(address)
    except AddressError as e:
        raise ValueError(f"consensus {what} {address!r}: {e}") from None


def _validate_model(store: KVStore, staking: ConsensusStaking, m: consensus_pb2.EnsembleModel) -> bytes:
    """A model belongs to a genesis validator and has a description of at most MAX_MODEL_CHARS."""
    operator = _decode(m.operator, "model operator")
    if staking.get_validator(store, operator) is None:
        raise ValueError(f"consensus model of {m.operator}: not a genesis validator")
    if not 0 < len(m.model) <= MAX_MODEL_CHARS:
        raise ValueError(f"consensus model of {m.operator}: model must be 1-{MAX_MODEL_CHARS} characters")
    return operator


def init_genesis(
    store: KVStore, k: ConsensusKeeper, staking: ConsensusStaking, gs: consensus_pb2.GenesisState
) -> None:
    """Validate and store params, models (after staking genesis) and reputations."""
    validate_params(gs.params)
    k.set_params(store, gs.params)
    for model in gs.models:
        operator = _validate_model(store, staking, model)
        if k.get_model(store, operator) is not None:
            raise ValueError(f"consensus model of {model.operator} is listed twice")
        k.set_model(store, operator, model)
    for rep in gs.reputations:
        address = _decode(rep.address, "reputation")
        if rep.score_bps > _BPS:
            raise ValueError(f"consensus reputation of {rep.address} is above {_BPS} bps")
        if k.get_reputation(store, address) is not None:
            raise ValueError(f"consensus reputation of {rep.address} is listed twice")
        k.set_reputation(store, address, rep)
