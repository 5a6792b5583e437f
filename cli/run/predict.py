"""`synod predict run`: take part in a prediction query with a private model, round after round."""

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
from app.ml.predattacks import PredictAttackError, parse_predict_attack
from cli.common import (
    client_errors,
    emit,
    home_option,
    load_key,
    node_option,
    output_option,
    poll_option,
    resolve_chain_id,
    resolve_node,
    single_coin,
    stop_on_sigterm,
)
from cli.light import verification_failures
from cli.query.common import agent_querier, agent_verify_options

__all__ = ["predict"]


@click.group()
def predict() -> None:
    """Consensus-learning predictors."""


def _check_attack(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Reject an unknown or malformed prediction attack spec before anything is sent."""
    if value:
        try:
            parse_predict_attack(value)
        except PredictAttackError as e:
            raise click.BadParameter(str(e)) from None
    return value


@predict.command("run")
@click.option("--key", required=True, help="Key name or address in --home's keyring that signs.")
@click.option("--query", "query_id", type=click.IntRange(1), required=True, help="The query to answer.")
@click.option(
    "--model", "arch", required=True, help="The local model's architecture: logreg or mlp:H1-H2-..."
)
@click.option(
    "--data",
    "data_spec",
    required=True,
    help="This predictor's private training data, e.g. digits:shard=2/8 (see app/ml/datasets.py).",
)
@click.option(
    "--stake", default=None, help="Stake to escrow, e.g. 5000usyn (default: the query's min stake)."
)
@click.option(
    "--attack",
    default="",
    callback=_check_attack,
    metavar="SPEC",
    help="Misbehave, for experiments: stubborn, random or collude:group=G (app/ml/predattacks).",
)
@click.option(
    "--trust",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="How far to move toward the network's view when revising (0: never, 1: all the way).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the model and saved predictions live across restarts "
    "(default: HOME/predictor/query-ID-ADDRESS).",
)
@poll_option(0.3)
@click.option("--quiet", "-q", is_flag=True, help="Log lines instead of the live display (for log files).")
@agent_verify_options
@home_option
@node_option
@output_option
def run(
    key: str,
    query_id: int,
    arch: str,
    data_spec: str,
    stake: str | None,
    attack: str,
    trust: float,
    state_dir: str | None,
    poll: float,
    quiet: bool,
    verify: bool | None,
    grpc: str | None,
    home: str,
    node: str | None,
    output: str,
) -> None:
    """Train --model on --data, register for --query with stake, then each round predict, commit
    and reveal, revising against the network's tally and peers; exit once the query settles.

    Progress goes to stderr; the summary (agreement with the settled answers, accuracy where labels
    are known, stake and reward) to stdout. Killed at any point, the same command resumes without
    submitting twice. Started before the query is posted, it trains while it waits.
    """
    from app.agents.predictor import PredictorAgent, PredictorConfig, PredictorError, default_state_dir

    signer = load_key(home, key)
    directory = Path(state_dir) if state_dir else default_state_dir(home, query_id, signer.address)
    coin = single_coin(stake, "--stake") if stake else None
    with client_errors():
        reporter = make_reporter(quiet, prefix=f"predictor {signer.address[:14]}")
        rpc = resolve_node(node, home)
        chain_id = resolve_chain_id(None, home, rpc, Retrier(reporter, time.sleep, rpc.url))
    querier = agent_querier(home, rpc, grpc, verify)
    config = PredictorConfig(
        query_id, arch, data_spec, directory, coin, trust, attack, poll_interval=poll, chain_id=chain_id
    )
    previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        # verification_failures: the node served state its proofs do not show
        with verification_failures(), follow_node(rpc.url, poll, reporter) as follower:
            summary = PredictorAgent(rpc, signer, config, reporter, querier=querier, follower=follower).run()
    except (PredictorError, RpcError, OSError) as e:
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:
        reporter.close()
        click.echo(
            f"interrupted; the model and predictions are in {directory}: run the same command to resume",
            err=True,
        )
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
        reporter.close()
    emit(output, summary.to_dict(), summary.describe())
