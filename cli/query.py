"""`synod query ...`: read chain state through a node."""

from __future__ import annotations

import base64

import click
from google.protobuf import json_format

from app.core.crypto import AddressError, decode_address
from cli.chainquery import abci_query, get_account, get_balances
from cli.common import client_errors, emit, home_option, node_option, output_option, resolve_node
from synod.bank.v1 import query_pb2 as bank_query

__all__ = ["query"]


def _check_address(address: str) -> None:
    """Reject a malformed address before asking the node."""
    try:
        decode_address(address)
    except AddressError as e:
        raise click.BadParameter(str(e), param_hint="ADDRESS") from None


@click.group()
def query() -> None:
    """Query chain state."""


@query.group()
def auth() -> None:
    """Accounts."""


@query.group()
def bank() -> None:
    """Balances and supply."""


def _common(command):  # noqa: ANN001, ANN202 - decorator stack shared by every query
    return home_option(node_option(output_option(command)))


@auth.command("account")
@click.argument("address")
@_common
def account(address: str, home: str, node: str | None, output: str) -> None:
    """Show an account's number, sequence and public key."""
    _check_address(address)
    with client_errors():
        acc = get_account(resolve_node(node, home), address)
    data = json_format.MessageToDict(acc, preserving_proto_field_name=True)
    data["public_key"] = acc.public_key.hex()
    text = (
        f"address:        {acc.address}\naccount_number: {acc.account_number}\n"
        f"sequence:       {acc.sequence}\npublic_key:     {acc.public_key.hex() or '(not yet set)'}"
    )
    emit(output, data, text)


@bank.command("balances")
@click.argument("address")
@_common
def balances(address: str, home: str, node: str | None, output: str) -> None:
    """Show all balances of an address."""
    _check_address(address)
    with client_errors():
        resp = get_balances(resolve_node(node, home), address)
    coins = [{"denom": c.denom, "amount": c.amount} for c in resp.balances]
    text = "\n".join(f"{c['amount']}{c['denom']}" for c in coins) or "(no balances)"
    emit(output, {"address": address, "balances": coins}, text)


@bank.command("supply")
@_common
def supply(home: str, node: str | None, output: str) -> None:
    """Show the total supply of every denomination."""
    with client_errors():
        resp = abci_query(resolve_node(node, home), "/bank/supply", b"", bank_query.QuerySupplyResponse)
    coins = [{"denom": c.denom, "amount": c.amount} for c in resp.supply]  # type: ignore[attr-defined]
    emit(output, {"supply": coins}, "\n".join(f"{c['amount']}{c['denom']}" for c in coins))


def tx_summary(found: dict) -> dict:
    """The fields people want from a /tx answer."""
    result = found["tx_result"]
    return {
        "txhash": found["hash"],
        "height": int(found["height"]),
        "code": int(result.get("code", 0)),
        "codespace": result.get("codespace", ""),
        "log": result.get("log", ""),
        "gas_wanted": int(result.get("gas_wanted", 0)),
        "gas_used": int(result.get("gas_used", 0)),
        "events": [
            {
                "type": e["type"],
                "attributes": {a["key"]: a.get("value", "") for a in e.get("attributes", [])},
            }
            for e in result.get("events", [])
        ],
    }


def format_summary(s: dict) -> str:
    """Text form of a tx summary."""
    lines = [f"{k:10} {s[k]}" for k in ("txhash", "height", "code", "gas_wanted", "gas_used")]
    if s["code"]:
        lines.append(f"{'log':10} {s['log']}")
    return "\n".join(lines)


@query.command("tx")
@click.argument("tx_hash")
@_common
def tx(tx_hash: str, home: str, node: str | None, output: str) -> None:
    """Show an included transaction by hash: height, result code, gas and events."""
    with client_errors():
        found = resolve_node(node, home).tx(tx_hash)
    if found is None:
        raise click.ClickException(
            f"transaction {tx_hash} not found: it may not be included yet, or the hash is wrong"
        )
    s = tx_summary(found)
    s["tx"] = base64.b64decode(found["tx"]).hex()
    emit(output, s, format_summary(s))
