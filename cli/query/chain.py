"""Typed reads through CometBFT's abci_query, shared by `synod query` and `synod tx`."""

from __future__ import annotations

from google.protobuf.message import Message

from app.client.rpc import CometRPC, QueryFailed
from synod.auth.v1 import auth_pb2
from synod.auth.v1 import query_pb2 as auth_query
from synod.bank.v1 import query_pb2 as bank_query

__all__ = ["QueryFailed", "abci_query", "get_account", "get_auth_params", "get_balances"]


def abci_query(rpc: CometRPC, path: str, data: bytes, response: type[Message]) -> Message:
    """Query the app and decode its answer; a non-zero code raises QueryFailed with the app's log."""
    return rpc.query_proto(path, data, response)


def get_account(rpc: CometRPC, address: str) -> auth_pb2.BaseAccount:
    """The account at an address (QueryFailed if it does not exist)."""
    resp = abci_query(rpc, "/auth/account", address.encode(), auth_query.QueryAccountResponse)
    return resp.account  # type: ignore[attr-defined]


def get_auth_params(rpc: CometRPC) -> auth_pb2.Params:
    """Fee and size parameters."""
    return abci_query(rpc, "/auth/params", b"", auth_query.QueryParamsResponse).params  # type: ignore[attr-defined]


def get_balances(rpc: CometRPC, address: str) -> bank_query.QueryAllBalancesResponse:
    """All balances of an address."""
    return abci_query(rpc, "/bank/balances", address.encode(), bank_query.QueryAllBalancesResponse)  # type: ignore[return-value]
