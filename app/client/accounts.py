"""Typed reads of accounts, fee params and balances over any Querier (auth and bank services)."""

from __future__ import annotations

from app.client.querier import QuerySource, as_querier
from synod.auth.v1 import auth_pb2
from synod.auth.v1 import query_pb2 as auth_query
from synod.bank.v1 import query_pb2 as bank_query
from synod.base.v1 import coin_pb2

__all__ = ["get_account", "get_auth_params", "get_balances"]


def get_account(source: QuerySource, address: str) -> auth_pb2.BaseAccount | None:
    """The account at an address, or None if it has none yet (it has never received tokens)."""
    resp = as_querier(source).ask("auth", "Account", auth_query.QueryAccountRequest(address=address))
    return resp.account if resp.HasField("account") else None


def get_auth_params(source: QuerySource) -> auth_pb2.Params:
    """Fee and size parameters."""
    return as_querier(source).ask("auth", "Params", auth_query.QueryParamsRequest()).params


def get_balances(source: QuerySource, address: str) -> list[coin_pb2.Coin]:
    """Every non-zero balance of an address, in denom order."""
    req = bank_query.QueryAllBalancesRequest(address=address)
    return list(as_querier(source).ask_all("bank", "AllBalances", req).balances)
