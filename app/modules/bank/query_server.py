"""bank queries: balances, supply and params (answers shared by the server and the verifying client)."""

from __future__ import annotations

from app.core.codec import decode_amount
from app.core.query import QueryService, StateReader, parse_address, parse_denom
from app.modules.bank import keys
from app.modules.bank.params import default_params
from synod.bank.v1 import bank_pb2
from synod.bank.v1 import query_pb2 as q
from synod.base.v1 import coin_pb2

__all__ = [
    "SERVICE",
    "answer_all_balances",
    "answer_balance",
    "answer_params",
    "answer_supply",
    "answer_supply_of",
]


def _key(table_key: bytes) -> bytes:
    """Full state key of a bank table key."""
    return keys.STORE_PREFIX + table_key


def _coin(denom: str, raw: bytes | None) -> coin_pb2.Coin:
    """A stored amount as a coin; absent means zero (the keeper deletes zero balances)."""
    return coin_pb2.Coin(denom=denom, amount=str(decode_amount(raw) if raw is not None else 0))


def answer_balance(state: StateReader, request: q.QueryBalanceRequest) -> q.QueryBalanceResponse:
    """One balance of an address."""
    address = parse_address(request.address, "address")
    denom = parse_denom(request.denom)
    return q.QueryBalanceResponse(balance=_coin(denom, state.get(_key(keys.balance_key(address, denom)))))


def answer_all_balances(state: StateReader, request: q.QueryAllBalancesRequest) -> q.QueryAllBalancesResponse:
    """A page of an address's balances in denom order."""
    prefix = _key(keys.balance_key(parse_address(request.address, "address")))
    items, page = state.page(prefix, request.pagination)
    return q.QueryAllBalancesResponse(
        balances=[_coin(key[len(prefix) :].decode(), raw) for key, raw in items], pagination=page
    )


def answer_supply_of(state: StateReader, request: q.QuerySupplyOfRequest) -> q.QuerySupplyOfResponse:
    """The total supply of one denom."""
    denom = parse_denom(request.denom)
    return q.QuerySupplyOfResponse(amount=_coin(denom, state.get(_key(keys.supply_key(denom)))))


def answer_supply(state: StateReader, request: q.QuerySupplyRequest) -> q.QuerySupplyResponse:
    """A page of supplies in denom order."""
    prefix = _key(keys.SUPPLY)
    items, page = state.page(prefix, request.pagination)
    return q.QuerySupplyResponse(
        supply=[_coin(key[len(prefix) :].decode(), raw) for key, raw in items], pagination=page
    )


def answer_params(state: StateReader, request: q.QueryParamsRequest) -> q.QueryParamsResponse:
    """Params; the defaults apply while none are stored."""
    raw = state.get(_key(keys.PARAMS))
    return q.QueryParamsResponse(params=default_params() if raw is None else bank_pb2.Params.FromString(raw))


SERVICE = QueryService(
    "bank",
    q.DESCRIPTOR.services_by_name["Query"],
    {
        "Balance": answer_balance,
        "AllBalances": answer_all_balances,
        "SupplyOf": answer_supply_of,
        "Supply": answer_supply,
        "Params": answer_params,
    },
)
