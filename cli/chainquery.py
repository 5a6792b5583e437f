"""Typed reads shared by `synod query` and `synod tx` (app/client/accounts.py over abci_query)."""

from __future__ import annotations

from app.client.accounts import get_account, get_auth_params, get_balances
from app.client.rpc import QueryFailed

__all__ = ["QueryFailed", "get_account", "get_auth_params", "get_balances"]
