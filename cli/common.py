"""Options and helpers shared by the `synod` commands (Cosmos SDK conventions)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from app.client.rpc import CometRPC, RpcError
from app.node.config import DEFAULT_GRPC_ADDRESS, NodeHome, load_app_config, read_toml

__all__ = [
    "default_home",
    "home_option",
    "output_option",
    "node_option",
    "resolve_node",
    "verify_options",
    "resolve_grpc",
    "resolve_chain_id",
    "emit",
    "client_errors",
]

_DEFAULT_NODE = "tcp://127.0.0.1:26657"


def default_home() -> str:
    """`$SYNOD_HOME`, else `~/.synod`."""
    return os.environ.get("SYNOD_HOME") or str(Path.home() / ".synod")


def home_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--home`, defaulting to `$SYNOD_HOME` or `~/.synod`."""
    return click.option(
        "--home",
        type=click.Path(file_okay=False),
        default=default_home,
        show_default="$SYNOD_HOME or ~/.synod",
        help="Node home directory (config, data, keyring).",
    )(command)


def output_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--output text|json`."""
    return click.option(
        "--output",
        "-o",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Output format.",
    )(command)


def node_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--node`, the CometBFT RPC address (default: the one in HOME's config.toml)."""
    return click.option(
        "--node",
        default=None,
        help="CometBFT RPC address, e.g. tcp://127.0.0.1:26657 (default: from --home's config).",
    )(command)


def verify_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--verify` (answer over gRPC, checked by the light client) and `--grpc`."""
    command = click.option(
        "--grpc",
        default=None,
        help="gRPC query address HOST:PORT for --verify (default: from --home's config/app.toml, "
        f"else {DEFAULT_GRPC_ADDRESS}).",
    )(command)
    return click.option(
        "--verify",
        is_flag=True,
        help="Read over gRPC and check every proof against a header the light client verified "
        "(`synod light init` first); fail unless it verifies.",
    )(command)


def resolve_grpc(grpc: str | None, home: str) -> str:
    """--grpc, else the home's grpc_address (config/app.toml), else the default."""
    if grpc:
        return grpc
    node = NodeHome(home)
    configured = load_app_config(node).grpc_address if node.app_toml.exists() else ""
    return configured or DEFAULT_GRPC_ADDRESS


def resolve_node(node: str | None, home: str) -> CometRPC:
    """The RPC client for --node, else the home's configured RPC address, else the default."""
    if node is None:
        config = NodeHome(home).config_toml
        node = read_toml(config)["rpc"]["laddr"] if config.exists() else _DEFAULT_NODE
    url = node.replace("tcp://", "http://", 1)
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    return CometRPC(url)


def resolve_chain_id(chain_id: str | None, home: str, rpc: CometRPC) -> str:
    """--chain-id, else the home's genesis, else what the node reports."""
    if chain_id:
        return chain_id
    genesis = NodeHome(home).genesis
    if genesis.exists():
        return json.loads(genesis.read_text())["chain_id"]
    return rpc.status()["node_info"]["network"]


def emit(output: str, data: dict[str, Any], text: str) -> None:
    """Print JSON or the human text."""
    click.echo(json.dumps(data, indent=2) if output == "json" else text)


@contextmanager
def client_errors() -> Iterator[None]:
    """Turn node and input errors into click errors (exit 1, the message says what to do)."""
    try:
        yield
    except RpcError as e:
        raise click.ClickException(str(e)) from None
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None
