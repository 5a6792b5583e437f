"""auth queries: accounts and params (answers shared by the server and the verifying client)."""

from __future__ import annotations

from app.core.query import QueryService, StateReader, parse_address
from app.modules.auth import keys
from app.modules.auth.params import default_params
from synod.auth.v1 import auth_pb2
from synod.auth.v1 import query_pb2 as q

__all__ = ["SERVICE", "answer_account", "answer_accounts", "answer_params"]


def _key(table_key: bytes) -> bytes:
    """Full state key of an auth table key."""
    return keys.STORE_PREFIX + table_key


def answer_account(state: StateReader, request: q.QueryAccountRequest) -> q.QueryAccountResponse:
    """One account, or no account (absent)."""
    raw = state.get(_key(keys.account_key(parse_address(request.address, "address"))))
    response = q.QueryAccountResponse()
    if raw is not None:
        response.account.ParseFromString(raw)
    return response


def answer_accounts(state: StateReader, request: q.QueryAccountsRequest) -> q.QueryAccountsResponse:
    """A page of accounts in address order."""
    items, page = state.page(_key(keys.ACCOUNT), request.pagination)
    return q.QueryAccountsResponse(
        accounts=[auth_pb2.BaseAccount.FromString(raw) for _, raw in items], pagination=page
    )


def answer_params(state: StateReader, request: q.QueryParamsRequest) -> q.QueryParamsResponse:
    """Params; the defaults apply while none are stored (as in the keeper)."""
    raw = state.get(_key(keys.PARAMS))
    return q.QueryParamsResponse(params=default_params() if raw is None else auth_pb2.Params.FromString(raw))


SERVICE = QueryService(
    "auth",
    q.DESCRIPTOR.services_by_name["Query"],
    {"Account": answer_account, "Accounts": answer_accounts, "Params": answer_params},
)
