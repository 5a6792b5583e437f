"""`synod query bank ...`: balances and supply."""

from __future__ import annotations

import click

from cli.common import check_address
from cli.query.common import QueryOpts, ask, emit_answer, query_options
from synod.bank.v1 import query_pb2 as bank_query

__all__ = ["bank"]


@click.group()
def bank() -> None:
    """Balances and supply."""


@bank.command("balances")
@click.argument("address")
@query_options
def balances(opts: QueryOpts, address: str) -> None:
    """Show all balances of an address."""
    check_address(address)
    request = bank_query.QueryAllBalancesRequest(address=address)
    resp, heights = ask(opts, "bank", "AllBalances", request)
    coins = [{"denom": c.denom, "amount": c.amount} for c in resp.balances]
    text = "\n".join(f"{c['amount']}{c['denom']}" for c in coins) or "(no balances)"
    emit_answer(opts, {"address": address, "balances": coins}, text, heights)


@bank.command("supply")
@query_options
def supply(opts: QueryOpts) -> None:
    """Show the total supply of every denomination."""
    resp, heights = ask(opts, "bank", "Supply", bank_query.QuerySupplyRequest())
    coins = [{"denom": c.denom, "amount": c.amount} for c in resp.supply]
    emit_answer(opts, {"supply": coins}, "\n".join(f"{c['amount']}{c['denom']}" for c in coins), heights)
