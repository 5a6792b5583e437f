"""`synod query tx TX_HASH`: an included transaction, optionally verified against light-client headers."""

from __future__ import annotations

import base64

import click

from cli.common import (
    client_errors,
    emit,
    format_summary,
    home_option,
    node_option,
    output_option,
    resolve_node,
    tx_summary,
)
from cli.light import verified_tx

__all__ = ["tx"]


@click.command("tx")
@click.argument("tx_hash")
@home_option
@node_option
@output_option
@click.option("--verify", is_flag=True, help="Check inclusion and result against light-client headers.")
def tx(tx_hash: str, home: str, node: str | None, output: str, verify: bool) -> None:
    """Show an included transaction by hash: height, result code, gas and events."""
    with client_errors():
        found = resolve_node(node, home).tx(tx_hash)
    if found is None:
        raise click.ClickException(
            f"transaction {tx_hash} not found: it may not be included yet, or the hash is wrong"
        )
    s = tx_summary(found)
    s["tx"] = base64.b64decode(found["tx"]).hex()
    text = format_summary(s)
    if verify:
        proven = verified_tx(home, node, tx_hash, found)
        s.update(
            height=proven.height, code=proven.code, gas_wanted=proven.gas_wanted, gas_used=proven.gas_used
        )
        s.update(
            verified_heights=[proven.height, proven.height + 1], unverified=["codespace", "log", "events"]
        )
        text = (
            f"{format_summary(s)}\nverified at height {proven.height} (inclusion) and {proven.height + 1} "
            "(code and gas; the log and events are not covered by any header)"
        )
    emit(output, s, text)
