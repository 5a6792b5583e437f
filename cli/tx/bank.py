"""`synod tx bank send`: token transfers."""

from __future__ import annotations

import click

from app.client.txbuilder import msg_send
from app.core.coins import parse_coins
from app.core.errors import SynodError
from cli.common import check_address, load_key, send_tx, tx_options

__all__ = ["bank"]


@click.group()
def bank() -> None:
    """Token transfers."""


@bank.command("send")
@click.argument("from_key")
@click.argument("to_address")
@click.argument("amount")
@tx_options
def send(from_key: str, to_address: str, amount: str, **opts) -> None:  # noqa: ANN003
    """Send AMOUNT (e.g. 1000usyn) from FROM_KEY (key name or address) to TO_ADDRESS."""
    check_address(to_address, "TO_ADDRESS")
    try:
        coins = parse_coins(amount)
    except SynodError as e:
        raise click.BadParameter(str(e), param_hint="AMOUNT") from None
    key = load_key(opts["home"], from_key)
    send_tx(
        key,
        [msg_send(key.address, to_address, coins)],
        opts,
        f"send {coins} from {key.address} to {to_address}",
    )
