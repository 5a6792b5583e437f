"""`synod ensemble run`: the validator's model answers fast queries through its node's vote extensions."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import click

from app.agents.progress import make_reporter
from app.agents.retry import Retrier
from app.client.follow import follow_node
from app.client.rpc import RpcError
from app.node.config import NodeHome
from cli.common import (
    client_errors,
    home_option,
    load_key,
    node_option,
    poll_option,
    resolve_chain_id,
    resolve_node,
    stop_on_sigterm,
)

__all__ = ["ensemble"]


@click.group()
def ensemble() -> None:
    """The validator ensemble (fast-path consensus queries)."""


@ensemble.command("run")
@click.option("--key", required=True, help="The validator operator's key in --home's keyring.")
@click.option("--model", "arch", required=True, help="The model's architecture: logreg or mlp:H1-H2-...")
@click.option(
    "--data", "data_spec", required=True, help="The validator's private training data, e.g. digits:shard=0/4."
)
@poll_option(0.1, minimum=0.02)
@click.option("--quiet", "-q", is_flag=True, help="Log lines instead of the live display (for log files).")
@home_option
@node_option
def run(key: str, arch: str, data_spec: str, poll: float, quiet: bool, home: str, node: str | None) -> None:
    """Train --model on --data, register it for the validator behind --key, then keep predictions for
    every pending fast query in the node home's data/ensemble directory, where the node's ExtendVote
    puts them into its precommits. Runs until stopped (Ctrl-C or SIGTERM).

    --home must be the validator node's home (its keyring holds --key). The model is kept in
    HOME/ensemble-model, so a restart does not train again.
    """
    from app.agents.ensemble import EnsembleConfig, EnsembleError, EnsembleSidecar

    operator = load_key(home, key)
    node_home = NodeHome(home)
    with client_errors():
        reporter = make_reporter(quiet, prefix=f"ensemble {operator.address[:14]}")
        rpc = resolve_node(node, home)
        chain_id = resolve_chain_id(None, home, rpc, Retrier(reporter, time.sleep, rpc.url))
    config = EnsembleConfig(
        arch, data_spec, node_home.ensemble_dir, Path(home) / "ensemble-model", poll, chain_id
    )
    previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        with follow_node(rpc.url, poll, reporter) as follower:
            EnsembleSidecar(rpc, operator, config, reporter, follower).run()
    except (EnsembleError, RpcError, OSError) as e:
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:
        reporter.close()
        click.echo("stopped", err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
        reporter.close()
