"""`synod tx ...`: build, sign, broadcast and (by default) wait for inclusion."""

from __future__ import annotations

import base64
import binascii

import click
from google.protobuf.message import Message

from app.client.keyring import Keyring, KeyringError
from app.client.rpc import CometRPC
from app.client.txbuilder import DEFAULT_GAS, build_tx, msg_send
from app.core.coins import Coins, parse_coins
from app.core.crypto import PUBKEY_LEN, AddressError, PrivateKey, decode_address
from app.core.errors import SynodError
from app.core.tx import decode_tx
from app.node.config import NodeHome, consensus_pubkey
from cli.chainquery import get_account, get_auth_params
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
from synod.base.v1 import coin_pb2
from synod.staking.v1 import tx_pb2 as staking_tx

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
        account = get_account(rpc, key.address)
        if account is None:
            raise click.ClickException(f"{key.address} has no account on chain {chain}: it must receive tokens first")
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


@tx.group()
def staking() -> None:
    """Create validators, delegate, undelegate and unjail."""


def _single_coin(amount: str, hint: str) -> coin_pb2.Coin:
    """Parse one coin such as 1000000usyn (the chain checks that the denom is the bond denom)."""
    try:
        coins = parse_coins(amount)
    except SynodError as e:
        raise click.BadParameter(str(e), param_hint=hint) from None
    if len(coins) != 1:
        raise click.BadParameter(
            f"give one amount in one denom, like 1000000usyn, not {amount}", param_hint=hint
        )
    ((denom, value),) = coins
    return coin_pb2.Coin(denom=denom, amount=str(value))


def _validator_address(address: str) -> str:
    """Reject a malformed validator (operator) address before signing anything."""
    try:
        decode_address(address)
    except AddressError as e:
        raise click.BadParameter(str(e), param_hint="VALIDATOR_ADDR") from None
    return address


def _consensus_key(pubkey: str | None, home: str) -> bytes:
    """--pubkey (base64 ed25519), else this home's CometBFT key in config/priv_validator_key.json."""
    if pubkey is None:
        try:
            return consensus_pubkey(NodeHome(home))
        except FileNotFoundError:
            raise click.ClickException(
                f"no config/priv_validator_key.json under {home}: pass --pubkey with the base64 ed25519 "
                "key of the node that will sign (`cometbft show-validator` prints it)"
            ) from None
    try:
        raw = base64.b64decode(pubkey, validate=True)
    except (binascii.Error, ValueError):
        raise click.BadParameter("not valid base64", param_hint="--pubkey") from None
    if len(raw) != PUBKEY_LEN:
        raise click.BadParameter(
            f"an ed25519 public key is {PUBKEY_LEN} bytes, this one is {len(raw)}", param_hint="--pubkey"
        )
    return raw


@staking.command("create-validator")
@click.argument("from_key")
@click.option(
    "--amount", required=True, help="Self-bond, e.g. 1000000usyn (at least the min_self_bond param)."
)
@click.option("--moniker", required=True, help="The validator's public name (1-70 characters).")
@click.option(
    "--pubkey",
    default=None,
    help="Base64 ed25519 consensus key (default: config/priv_validator_key.json of --home).",
)
@_tx_options
def create_validator(from_key: str, amount: str, moniker: str, pubkey: str | None, **opts) -> None:  # noqa: ANN003
    """Make FROM_KEY a validator operator, bonding --amount of its own tokens."""
    self_bond = _single_coin(amount, "--amount")
    consensus = _consensus_key(pubkey, opts["home"])
    key = _load_key(opts["home"], from_key)
    msg = staking_tx.MsgCreateValidator(
        operator_address=key.address, consensus_pubkey=consensus, moniker=moniker, self_bond=self_bond
    )
    sign_and_broadcast(
        key,
        [msg],
        summary=f"create validator {moniker!r} operated by {key.address}, self-bond {amount}, "
        f"consensus key {base64.b64encode(consensus).decode()}",
        **opts,
    )


@staking.command("delegate")
@click.argument("from_key")
@click.argument("validator_addr")
@click.argument("amount")
@_tx_options
def delegate(from_key: str, validator_addr: str, amount: str, **opts) -> None:  # noqa: ANN003
    """Bond AMOUNT, like 1000000usyn, from FROM_KEY to the validator VALIDATOR_ADDR."""
    validator = _validator_address(validator_addr)
    coin = _single_coin(amount, "AMOUNT")
    key = _load_key(opts["home"], from_key)
    msg = staking_tx.MsgDelegate(delegator_address=key.address, validator_address=validator, amount=coin)
    sign_and_broadcast(key, [msg], summary=f"delegate {amount} from {key.address} to {validator}", **opts)


@staking.command("undelegate")
@click.argument("from_key")
@click.argument("validator_addr")
@click.argument("amount")
@_tx_options
def undelegate(from_key: str, validator_addr: str, amount: str, **opts) -> None:  # noqa: ANN003
    """Unbond AMOUNT from VALIDATOR_ADDR; the tokens return after the unbonding period."""
    validator = _validator_address(validator_addr)
    coin = _single_coin(amount, "AMOUNT")
    key = _load_key(opts["home"], from_key)
    msg = staking_tx.MsgUndelegate(delegator_address=key.address, validator_address=validator, amount=coin)
    sign_and_broadcast(key, [msg], summary=f"undelegate {amount} of {key.address} from {validator}", **opts)


@staking.command("unjail")
@click.argument("from_key")
@_tx_options
def unjail(from_key: str, **opts) -> None:  # noqa: ANN003
    """Bring FROM_KEY's validator back after its downtime jail period has ended."""
    key = _load_key(opts["home"], from_key)
    msg = staking_tx.MsgUnjail(validator_address=key.address)
    sign_and_broadcast(key, [msg], summary=f"unjail validator {key.address}", **opts)
