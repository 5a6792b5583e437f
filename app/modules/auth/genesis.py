"""auth genesis: default, validate, init, export."""

from __future__ import annotations

from app.core.crypto import decode_address, encode_address
from app.modules.auth.keeper import AuthKeeper
from app.modules.auth.params import default_params, validate_params
from app.state.kv import KVStore
from synod.auth.v1 import auth_pb2

__all__ = ["default_genesis", "validate_genesis", "init_genesis", "export_genesis"]


def default_genesis() -> auth_pb2.GenesisState:
    """Default params, no explicit accounts (bank genesis creates funded ones)."""
    return auth_pb2.GenesisState(params=default_params())


def validate_genesis(gs: auth_pb2.GenesisState) -> None:
    """Params are usable and listed accounts are unique valid addresses."""
    validate_params(gs.params)
    seen = set()
    for acc in gs.accounts:
        raw = decode_address(acc.address)
        if raw in seen:
            raise ValueError(f"auth genesis: account {acc.address} listed twice")
        seen.add(raw)


def init_genesis(store: KVStore, auth: AuthKeeper, gs: auth_pb2.GenesisState) -> None:
    """Write params and the listed accounts (numbered in list order, sequences kept)."""
    validate_genesis(gs)
    auth.set_params(store, gs.params)
    for acc in gs.accounts:
        created = auth.ensure_account(store, decode_address(acc.address))
        created.sequence = acc.sequence
        created.public_key = acc.public_key
        auth.set_account(store, created, decode_address(acc.address))


def export_genesis(store: KVStore, auth: AuthKeeper) -> auth_pb2.GenesisState:
    """The auth state as genesis (accounts in account-number order)."""
    accounts = sorted(auth.iterate_accounts(store), key=lambda a: a.account_number)
    for acc in accounts:
        acc.address = encode_address(decode_address(acc.address))
    return auth_pb2.GenesisState(params=auth.get_params(store), accounts=accounts)
