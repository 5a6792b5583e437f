"""staking invariants, run after every block in tests."""

from __future__ import annotations

from app.core.crypto import decode_address
from app.modules.staking.keeper import BONDED_POOL, StakingKeeper
from app.state.kv import KVStore

__all__ = ["check_bonded_pool", "check_shares"]


def check_bonded_pool(store: KVStore, k: StakingKeeper) -> None:
    """The bonded pool holds exactly the validators' tokens plus all unbonding balances."""
    denom = k.get_params(store).bond_denom
    bonded = sum(int(v.tokens) for v in k.iterate_validators(store))
    unbonding = sum(int(e.balance) for e in k.iterate_unbonding(store))
    pool = k.bank.get_balance(store, k.bank.module_account(BONDED_POOL), denom)
    if pool != bonded + unbonding:
        raise AssertionError(f"bonded pool {pool} != bonded {bonded} + unbonding {unbonding}")


def check_shares(store: KVStore, k: StakingKeeper) -> None:
    """Each validator's shares equal the sum of its delegations' shares."""
    totals: dict[bytes, int] = {}
    for _, operator, shares in k.iterate_delegations(store):
        totals[operator] = totals.get(operator, 0) + shares
    for v in k.iterate_validators(store):
        if int(v.delegator_shares) != totals.get(decode_address(v.operator_address), 0):
            raise AssertionError(f"{v.operator_address}: shares do not match its delegations")
