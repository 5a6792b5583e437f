"""`synod tx ...`: build, sign, broadcast and (by default) wait for inclusion."""

from __future__ import annotations

import click
from google.protobuf.message import Message

from app.client.keyring import Keyring, KeyringError
from app.client.rpc import CometRPC
from app.client.txbuilder import DEFAULT_GAS, build_tx, msg_send
from app.core.coins import Coins, parse_coins
from app.core.crypto import AddressError, PrivateKey, decode_address
from app.core.errors import SynodError
from app.core.tx import decode_tx
from cli.chainquery import QueryFailed, get_account, get_auth_params
from cli.common import (
    client_errors,
    emit,
    home_option,
    node_option,
    output_option,
    resolve_chain_id,
    resolve_node,
)
from cli.query import format_summary, tx_summary

__all__ = ["tx"]


def _tx_options(command):  # noqa: ANN001, ANN202 - the flags every tx command takes
    for option in reversed(
        [
            click.option("--fees", default=None, help="Fee, e.g. 200000usyn (default: gas x min gas price)."),
            click.option(
                "--gas", default=DEFAULT_GAS, show_default=True, type=click.IntRange(1), help="Gas limit."
            ),
            click.option("--memo", default="", help="Note stored with the transaction."),
            click.option(
                "--chain-id", default=None, help="Chain id (default: from --home's genesis or the node)."
            ),
            click.option("--yes", "-y", is_flag=True, help="Sign and broadcast without asking."),
            click.option(
                "--no-wait", is_flag=True, help="Return after CheckTx instead of waiting for a block."
            ),
        ]
    ):
        command = option(command)
    return home_option(node_option(output_option(command)))


@click.group()
def tx() -> None:
    """Sign and broadcast transactions."""


@tx.group()
def bank() -> None:
    """Token transfers."""


def _load_key(home: str, name_or_address: str) -> PrivateKey:
    """The signing key for a key name or address from the keyring."""
    try:
        return Keyring(home).private_key(name_or_address)
    except KeyringError as e:
        raise click.ClickException(str(e)) from None


def sign_and_broadcast(
    key: PrivateKey,
    msgs: list[Message],
    *,
    home: str,
    node: str | None,
    chain_id: str | None,
    fees: str | None,
    gas: int,
    memo: str,
    yes: bool,
    no_wait: bool,
    output: str,
    summary: str,
) -> None:
    """Everything after the message is built: account lookup, fee, confirm, sign, send, wait."""
    with client_errors():
        rpc: CometRPC = resolve_node(node, home)
        chain = resolve_chain_id(chain_id, home, rpc)
        try:
            account = get_account(rpc, key.address)
        except QueryFailed as e:
            raise click.ClickException(
                f"{key.address} has no account on chain {chain}: it must receive tokens first ({e})"
            ) from None
        params = get_auth_params(rpc)
        try:
            fee = parse_coins(fees) if fees else Coins.of([(params.fee_denom, gas * params.min_gas_price)])
        except SynodError as e:
            raise click.BadParameter(str(e), param_hint="--fees") from None
        if not yes:
            click.confirm(
                f"{summary}\nfee {fee}, gas {gas}, chain {chain}. Sign and broadcast?", abort=True, err=True
            )
        raw = build_tx(
            key,
            msgs,
            chain_id=chain,
            account_number=account.account_number,
            sequence=account.sequence,
            fee=fee,
            gas_limit=gas,
            memo=memo,
        )
        decode_tx(raw)  # our own encoding must pass the chain's strict decoder
        checked = rpc.broadcast_tx_sync(raw)
        if int(checked["code"]):
            raise click.ClickException(
                f"rejected by CheckTx (code {checked['code']}, {checked.get('codespace', '')}): "
                f"{checked.get('log', '')}"
            )
        if no_wait:
            emit(output, {"txhash": checked["hash"], "code": 0}, f"txhash {checked['hash']} (in mempool)")
            return
        found = rpc.wait_for_tx(checked["hash"])
    s = tx_summary(found)
    emit(output, s, format_summary(s))
    if s["code"]:
        raise click.ClickException(f"transaction failed in block {s['height']}: {s['log']}")


@bank.command("send")
@click.argument("from_key")
@click.argument("to_address")
@click.argument("amount")
@_tx_options
def send(from_key: str, to_address: str, amount: str, **opts) -> None:  # noqa: ANN003
    """Send AMOUNT (e.g. 1000usyn) from FROM_KEY (key name or address) to TO_ADDRESS."""
    try:
        decode_address(to_address)
    except AddressError as e:
        raise click.BadParameter(str(e), param_hint="TO_ADDRESS") from None
    try:
        coins = parse_coins(amount)
    except SynodError as e:
        raise click.BadParameter(str(e), param_hint="AMOUNT") from None
    key = _load_key(opts["home"], from_key)
    sign_and_broadcast(
        key,
        [msg_send(key.address, to_address, coins)],
        summary=f"send {coins} from {key.address} to {to_address}",
        **opts,
    )
