"""`synod explorer`: a live web page of the chain, its tasks, queries and slashes (app/explorer)."""

from __future__ import annotations

import signal
import sys
import threading

import click

from app.client.rpc import CometRPC, RpcError
from app.explorer.server import ExplorerServer, MissingBundle
from app.explorer.start import start_explorer
from app.node.config import NodeHome
from cli.common import home_option, node_option, resolve_node, stop_on_sigterm
from cli.query.common import agent_querier, agent_verify_options

__all__ = ["explorer", "open_explorer"]


class _Notices:
    """The block follower's notices, on stderr."""

    def info(self, message: str) -> None:
        click.echo(f"explorer: {message}", err=True)

    def warn(self, message: str) -> None:
        click.echo(f"explorer: warning: {message}", err=True)


def _parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT -> (host, port); a usage error otherwise."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise click.BadParameter(f"{listen!r} is not HOST:PORT, e.g. 127.0.0.1:8080", param_hint="--listen")
    return host, int(port)


def _node_rpc(home: str, node: str | None) -> CometRPC:
    """The node's RPC client, checked to answer; a click error naming what is wrong otherwise."""
    if node is None and not NodeHome(home).config_toml.exists():
        raise click.ClickException(
            f"{home} is not a node home (no config/config.toml): give the --home of a node "
            "(`synod init`, or a localnet node's home) or the node's RPC address with --node URL"
        )
    try:
        rpc = resolve_node(node, home)
        rpc.status()
    except (RpcError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    return rpc


def open_explorer(
    home: str,
    node: str | None,
    listen: str,
    grpc: str | None = None,
    verify: bool | None = None,
    evaluate: bool = True,
) -> tuple[ExplorerServer, str]:
    """Start an explorer on listen (port 0: any free one) for the node of home; return it and its URL.

    Reads are verified when home holds a trust anchor (`synod light init`), unless verify is False;
    with evaluate, each checkpoint's test accuracy and loss are computed locally (JAX). Every failure
    to start is a click error that says what to do."""
    host, port = _parse_listen(listen)
    rpc = _node_rpc(home, node)
    verified = agent_querier(home, rpc, grpc, verify)
    try:
        return start_explorer(rpc, host, port, _Notices(), verified, evaluate)
    except (MissingBundle, OSError) as e:
        raise click.ClickException(str(e)) from None


@click.command("explorer")
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    help="HOST:PORT the web page is served on.",
)
@click.option(
    "--evaluate/--no-evaluate",
    default=True,
    show_default=True,
    help="Evaluate each checkpoint on its task's evaluation data locally (JAX, as `synod task plot`) "
    "to chart test accuracy and loss per round.",
)
@agent_verify_options
@home_option
@node_option
def explorer(
    listen: str, evaluate: bool, grpc: str | None, verify: bool | None, home: str, node: str | None
) -> None:
    """Serve a live web page of the chain: blocks, validators, tasks and their rounds, committee
    verdicts, accuracy and loss, consensus queries and slashing events, updated at every block."""
    server, url = open_explorer(home, node, listen, grpc, verify, evaluate)
    mode = "verified reads" if server.explorer.sources.verified else "unverified reads (no trust anchor)"
    click.echo(f"explorer on {url} ({mode}); Ctrl-C stops it")
    previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
        sys.stderr.flush()
