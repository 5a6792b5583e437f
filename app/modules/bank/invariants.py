"""bank invariants, run after every block in tests."""

from __future__ import annotations

from app.modules.bank.keeper import BankKeeper
from app.state.kv import KVReader

__all__ = ["check_supply"]


def check_supply(store: KVReader, bank: BankKeeper) -> None:
    """Supply of each denom equals the sum of all balances (accounts and module escrows)."""
    totals: dict[str, int] = {}
    for _, denom, amount in bank.iterate_balances(store):
        if amount <= 0:
            raise AssertionError(f"non-positive balance stored for {denom}")
        totals[denom] = totals.get(denom, 0) + amount
    supply = dict(bank.iterate_supply(store))
    if totals != supply:
        raise AssertionError(f"supply {supply} != sum of balances {totals}")
