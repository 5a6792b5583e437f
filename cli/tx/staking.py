"""`synod tx staking ...`: create validators, delegate, undelegate and unjail.

Each is signed by --from (a key name or address in --home's keyring), as in Cosmos SDK's `simd`.
"""

from __future__ import annotations

import base64
import binascii

import click

from app.core.crypto import PUBKEY_LEN
from app.node.config import NodeHome, consensus_pubkey
from cli.common import check_address, from_option, load_key, send_tx, single_coin, tx_options
from synod.staking.v1 import tx_pb2 as staking_tx

__all__ = ["staking"]


@click.group()
def staking() -> None:
    """Create validators, delegate, undelegate and unjail."""


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
@from_option
@click.option(
    "--amount", required=True, help="Self-bond, e.g. 1000000usyn (at least the min_self_bond param)."
)
@click.option("--moniker", required=True, help="The validator's public name (1-70 characters).")
@click.option(
    "--pubkey",
    default=None,
    help="Base64 ed25519 consensus key (default: config/priv_validator_key.json of --home).",
)
@tx_options
def create_validator(from_key: str, amount: str, moniker: str, pubkey: str | None, **opts) -> None:  # noqa: ANN003
    """Make --from a validator operator, bonding --amount of its own tokens."""
    self_bond = single_coin(amount, "--amount")
    consensus = _consensus_key(pubkey, opts["home"])
    key = load_key(opts["home"], from_key)
    msg = staking_tx.MsgCreateValidator(
        operator_address=key.address, consensus_pubkey=consensus, moniker=moniker, self_bond=self_bond
    )
    send_tx(
        key,
        [msg],
        opts,
        f"create validator {moniker!r} operated by {key.address}, self-bond {amount}, "
        f"consensus key {base64.b64encode(consensus).decode()}",
    )


@staking.command("delegate")
@from_option
@click.argument("validator_addr")
@click.argument("amount")
@tx_options
def delegate(from_key: str, validator_addr: str, amount: str, **opts) -> None:  # noqa: ANN003
    """Bond AMOUNT, like 1000000usyn, from --from to the validator VALIDATOR_ADDR."""
    validator = check_address(validator_addr, "VALIDATOR_ADDR")
    coin = single_coin(amount, "AMOUNT")
    key = load_key(opts["home"], from_key)
    msg = staking_tx.MsgDelegate(delegator_address=key.address, validator_address=validator, amount=coin)
    send_tx(key, [msg], opts, f"delegate {amount} from {key.address} to {validator}")


@staking.command("undelegate")
@from_option
@click.argument("validator_addr")
@click.argument("amount")
@tx_options
def undelegate(from_key: str, validator_addr: str, amount: str, **opts) -> None:  # noqa: ANN003
    """Unbond AMOUNT from VALIDATOR_ADDR; the tokens return after the unbonding period."""
    validator = check_address(validator_addr, "VALIDATOR_ADDR")
    coin = single_coin(amount, "AMOUNT")
    key = load_key(opts["home"], from_key)
    msg = staking_tx.MsgUndelegate(delegator_address=key.address, validator_address=validator, amount=coin)
    send_tx(key, [msg], opts, f"undelegate {amount} of {key.address} from {validator}")


@staking.command("unjail")
@from_option
@tx_options
def unjail(from_key: str, **opts) -> None:  # noqa: ANN003
    """Bring --from's validator back after its downtime jail period has ended."""
    key = load_key(opts["home"], from_key)
    msg = staking_tx.MsgUnjail(validator_address=key.address)
    send_tx(key, [msg], opts, f"unjail validator {key.address}")
