"""Node commands: `synod init`, `synod start`, `synod status`."""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from app.client.keyring import Keyring, KeyringError
from app.node.blskey import BlsKeyError, create_bls_key
from app.node.config import (
    GENESIS_VALIDATOR_FUNDS,
    RPC_SETTINGS,
    VOTE_EXTENSIONS_HEIGHT,
    GenesisBond,
    NodeHome,
    cometbft_init,
    consensus_pubkey,
    fast_block_settings,
    set_toml,
    write_app_config,
    write_app_genesis,
)
from app.node.run import run_node
from app.node.toolchain import ToolchainError
from cli.common import client_errors, emit, home_option, node_option, output_option, resolve_node

__all__ = ["init", "start", "status"]


@click.command()
@home_option
@click.option("--chain-id", required=True, help="Chain identifier, e.g. synod-local.")
@click.option("--moniker", required=True, help="Human-readable node name.")
@click.option("--timeout-commit", default="500ms", show_default=True, help="Pause after each block.")
def init(home: str, chain_id: str, moniker: str, timeout_commit: str) -> None:
    """Create a node home: CometBFT config and genesis, app genesis, a funded `validator` key and
    the node's BLS beacon key (config/bls_key.json); the validator starts on committee duty."""
    node = NodeHome(home)
    if node.exists():
        raise click.ClickException(
            f"{node.root} is already initialised; pick another --home or remove it first"
        )
    try:
        cometbft_init(node)
    except ToolchainError as e:
        raise click.ClickException(str(e)) from None
    write_app_config(node)
    set_toml(
        node.config_toml,
        {("", "moniker"): f'"{moniker}"', **fast_block_settings(timeout_commit), **RPC_SETTINGS},
    )
    try:
        info, mnemonic = Keyring(node.root).add("validator")
    except KeyringError as e:
        raise click.ClickException(str(e)) from None
    bond = GenesisBond(info.address, consensus_pubkey(node), moniker, bls_pubkey=create_bls_key(node.bls_key))
    write_app_genesis(
        node,
        chain_id,
        {info.address: GENESIS_VALIDATOR_FUNDS},
        [bond],
        vote_extensions_height=VOTE_EXTENSIONS_HEIGHT,
    )
    click.echo(f"initialised {node.root} for chain {chain_id} (moniker {moniker})")
    click.echo(
        f"validator key: {info.address}, funded with {GENESIS_VALIDATOR_FUNDS}usyn, "
        f"{bond.self_bond}usyn of it bonded"
    )
    click.echo("\n**Important** write this mnemonic phrase in a safe place:", err=True)
    click.echo(mnemonic, err=True)
    click.echo(f"\nstart the node with: synod start --home {node.root}")


@click.command()
@home_option
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def start(home: str, log_level: str) -> None:
    """Run the app and its CometBFT node together until SIGTERM/SIGINT or either one stops."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    node = NodeHome(home)
    try:
        result = asyncio.run(run_node(node))
    except (FileNotFoundError, ToolchainError, OSError, BlsKeyError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(result.reason, err=result.code != 0)
    sys.exit(result.code)


@click.command()
@home_option
@node_option
@output_option
def status(home: str, node: str | None, output: str) -> None:
    """Show the node's height, app hash, latest block time and whether it is catching up."""
    with client_errors():
        s = resolve_node(node, home).status()
    sync = s["sync_info"]
    data = {
        "chain_id": s["node_info"]["network"],
        "moniker": s["node_info"]["moniker"],
        "height": int(sync["latest_block_height"]),
        "app_hash": sync["latest_app_hash"],
        "latest_block_time": sync["latest_block_time"],
        "catching_up": sync["catching_up"],
        "voting_power": int(s["validator_info"]["voting_power"]),
    }
    text = "\n".join(f"{k:18} {v}" for k, v in data.items())
    emit(output, data, text)
