"""committee genesis: default, validate, init. Genesis validators may start on committee duty."""

from __future__ import annotations

from app.core import bls
from app.core.crypto import AddressError, address_bytes_from_pubkey, decode_address
from app.modules.committee.expected import CommitteeStaking
from app.modules.committee.keeper import CommitteeKeeper
from app.modules.committee.params import default_params, validate_params
from app.state.kv import KVStore
from synod.committee.v1 import committee_pb2

__all__ = ["default_genesis", "init_genesis"]


def default_genesis() -> committee_pb2.GenesisState:
    """Default params, no members."""
    return committee_pb2.GenesisState(params=default_params())


def _validate_member(store: KVStore, staking: CommitteeStaking, m: committee_pb2.Member) -> bytes:
    """A member must be a genesis validator with its own consensus address and a 48-byte key."""
    try:
        operator = decode_address(m.operator)
    except AddressError as e:
        raise ValueError(f"committee member {m.operator!r}: {e}") from None
    validator = staking.get_validator(store, operator)
    if validator is None:
        raise ValueError(f"committee member {m.operator} is not a genesis validator")
    if m.cons_address != address_bytes_from_pubkey(validator.consensus_pubkey):
        raise ValueError(f"committee member {m.operator}: cons_address is not its validator's")
    if len(m.bls_pubkey) != bls.PUBKEY_LEN:
        raise ValueError(f"committee member {m.operator}: bls_pubkey must be {bls.PUBKEY_LEN} bytes")
    return operator


def init_genesis(
    store: KVStore, k: CommitteeKeeper, staking: CommitteeStaking, gs: committee_pb2.GenesisState
) -> None:
    """Validate and store params, members (after staking genesis) and reputations."""
    validate_params(gs.params)
    k.set_params(store, gs.params)
    for member in gs.members:
        operator = _validate_member(store, staking, member)
        if k.get_member(store, operator) is not None:
            raise ValueError(f"committee member {member.operator} is listed twice")
        k.set_member(store, operator, member)
    for rep in gs.reputations:
        if rep.score_bps > 10_000:
            raise ValueError(f"reputation of {rep.address} is above 10000 bps")
        k.set_reputation(store, decode_address(rep.address), rep)
