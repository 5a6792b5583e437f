"""bank genesis: default, validate, init, export."""

from __future__ import annotations

from app.core.coins import coins_from_proto
from app.core.crypto import decode_address, encode_address
from app.modules.bank.keeper import BankKeeper
from app.modules.bank.params import default_params, validate_params
from app.state.kv import KVStore
from synod.bank.v1 import bank_pb2
from synod.base.v1 import coin_pb2

__all__ = ["default_genesis", "validate_genesis", "init_genesis", "export_genesis"]


def default_genesis() -> bank_pb2.GenesisState:
    """No balances, default params."""
    return bank_pb2.GenesisState(params=default_params())


def _totals(gs: bank_pb2.GenesisState) -> dict[str, int]:
    """Sum of all genesis balances per denom."""
    totals: dict[str, int] = {}
    for b in gs.balances:
        for denom, amount in coins_from_proto(list(b.coins)):
            totals[denom] = totals.get(denom, 0) + amount
    return totals


def validate_genesis(gs: bank_pb2.GenesisState) -> None:
    """Addresses decode, each appears once, coins are valid and declared supply matches."""
    validate_params(gs.params)
    seen = set()
    for b in gs.balances:
        decode_address(b.address)
        if b.address in seen:
            raise ValueError(f"bank genesis: {b.address} has two balance entries")
        seen.add(b.address)
    declared = {c.denom: c.amount for c in gs.supply}
    if declared and declared != {d: str(a) for d, a in _totals(gs).items()}:
        raise ValueError("bank genesis: declared supply does not equal the sum of balances")


def init_genesis(store: KVStore, bank: BankKeeper, gs: bank_pb2.GenesisState) -> None:
    """Write params, balances (creating accounts in address order) and the supply."""
    validate_genesis(gs)
    bank.set_params(store, gs.params)
    for b in sorted(gs.balances, key=lambda b: decode_address(b.address)):
        coins = coins_from_proto(list(b.coins))
        address = decode_address(b.address)
        bank.accounts.ensure_account(store, address)
        for denom, amount in coins:
            bank.set_balance(store, address, denom, amount)
    for denom, amount in sorted(_totals(gs).items()):
        bank.set_supply(store, denom, amount)


def export_genesis(store: KVStore, bank: BankKeeper) -> bank_pb2.GenesisState:
    """The bank state as genesis."""
    gs = bank_pb2.GenesisState(params=bank.get_params(store))
    per_address: dict[bytes, list[coin_pb2.Coin]] = {}
    for address, denom, amount in bank.iterate_balances(store):
        per_address.setdefault(address, []).append(coin_pb2.Coin(denom=denom, amount=str(amount)))
    for address, coins in per_address.items():
        gs.balances.add(address=encode_address(address), coins=coins)
    for denom, amount in bank.iterate_supply(store):
        gs.supply.add(denom=denom, amount=str(amount))
    return gs
