"""`synod query auth account`: accounts."""

from __future__ import annotations

import click
from google.protobuf import json_format

from cli.common import absent_error, check_address
from cli.query.common import QueryOpts, ask, emit_answer, query_options
from synod.auth.v1 import query_pb2 as auth_query

__all__ = ["auth"]


@click.group()
def auth() -> None:
    """Accounts."""


@auth.command("account")
@click.argument("address")
@query_options
def account(opts: QueryOpts, address: str) -> None:
    """Show an account's number, sequence and public key."""
    check_address(address)
    request = auth_query.QueryAccountRequest(address=address)
    resp, heights = ask(opts, "auth", "Account", request)
    if not resp.HasField("account"):
        raise absent_error(f"account {address}", heights)
    acc = resp.account
    data = json_format.MessageToDict(acc, preserving_proto_field_name=True)
    data["public_key"] = acc.public_key.hex()
    text = (
        f"address:        {acc.address}\naccount_number: {acc.account_number}\n"
        f"sequence:       {acc.sequence}\npublic_key:     {acc.public_key.hex() or '(not yet set)'}"
    )
    emit_answer(opts, data, text, heights)
