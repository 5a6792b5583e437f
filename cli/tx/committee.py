"""`synod tx committee opt-in|opt-out`: put a validator on committee duty, or take it off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from app.client.committeetx import msg_opt_in, msg_opt_out
from app.core import bls
from app.modules.committee.beacon import compute_possession_message
from app.node.blskey import BlsKeyError, load_bls_key
from app.node.config import NodeHome
from cli.common import (
    client_errors,
    from_option,
    load_key,
    resolve_chain_id,
    resolve_node,
    send_tx,
    tx_options,
)

__all__ = ["committee_tx"]


@click.group("committee")
def committee_tx() -> None:
    """Put a validator on committee duty, or take it off."""


def _bls_key_path(bls_key: str | None, home: str) -> Path:
    """--bls-key, else the home's config/bls_key.json."""
    return Path(bls_key) if bls_key else NodeHome(home).bls_key


@committee_tx.command("opt-in")
@from_option
@click.option(
    "--bls-key",
    type=click.Path(dir_okay=False),
    default=None,
    help="The node's BLS key file (default: config/bls_key.json under --home).",
)
@tx_options
def opt_in(from_key: str, bls_key: str | None, **opts: Any) -> None:
    """Put the validator operated by --from on committee duty with its node's BLS beacon key."""
    path = _bls_key_path(bls_key, opts["home"])
    if not path.exists():
        raise click.ClickException(
            f"no BLS key at {path}: pass --bls-key with the config/bls_key.json of the validator's node "
            "home (`synod init` writes it), or --home that node's home"
        )
    try:
        secret = load_bls_key(path)
    except BlsKeyError as e:
        raise click.ClickException(str(e)) from None
    key = load_key(opts["home"], from_key)
    with client_errors():
        chain = resolve_chain_id(opts["chain_id"], opts["home"], resolve_node(opts["node"], opts["home"]))
    possession = bls.sign(secret, compute_possession_message(chain, key.address))
    pubkey = bls.public_key(secret)
    send_tx(
        key,
        [msg_opt_in(key.address, pubkey, possession)],
        {**opts, "chain_id": chain},
        f"put validator {key.address} on committee duty with BLS key {pubkey.hex()[:16]}...",
    )


@committee_tx.command("opt-out")
@from_option
@tx_options
def opt_out(from_key: str, **opts: Any) -> None:
    """Take the validator operated by --from off committee duty from the next block on."""
    key = load_key(opts["home"], from_key)
    send_tx(key, [msg_opt_out(key.address)], opts, f"take validator {key.address} off committee duty")
