"""`synod worker run`: train on private data for a federated-learning task, round after round."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.agents.progress import make_reporter
from app.agents.usercode import TrainerLoadError, UserTrainer, load_trainer
from app.agents.worker import Worker, WorkerConfig, WorkerError, default_state_dir
from app.client.follow import follow_node
from app.client.rpc import RpcError
from app.ml.attacks import AttackError, parse_worker_attack
from cli.common import (
    client_errors,
    emit,
    home_option,
    load_key,
    node_option,
    output_option,
    poll_option,
    resolve_node,
)
from cli.light import verification_failures
from cli.query.common import agent_querier, agent_verify_options

__all__ = ["worker"]


@click.group()
def worker() -> None:
    """Federated-learning workers."""


def _check_attack(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Reject an unknown or malformed worker attack spec before anything is sent."""
    if value:
        try:
            parse_worker_attack(value)
        except AttackError as e:
            raise click.BadParameter(str(e)) from None
    return value


def _load_trainer(_ctx: click.Context, _param: click.Parameter, value: str | None) -> UserTrainer | None:
    """Import --trainer's pkg.module:attr before anything is sent; its errors are usage errors."""
    if value is None:
        return None
    try:
        return load_trainer(value)
    except TrainerLoadError as e:
        raise click.BadParameter(str(e)) from None


@worker.command("run")
@click.option("--task", "task_id", type=click.IntRange(1), required=True, help="The task to work on.")
@click.option("--key", required=True, help="Key name or address in --home's keyring that signs.")
@click.option(
    "--data",
    "data_spec",
    default="",
    help="This worker's private data, e.g. digits:shard=0/3:dirichlet=0.5:seed=1 (see app/ml/datasets.py). "
    "Required unless --trainer is given; with it, passed on to the trainer as config['data'].",
)
@click.option(
    "--trainer",
    "user_trainer",
    default=None,
    metavar="PKG.MODULE:ATTR",
    callback=_load_trainer,
    help="Train with your own code instead of Synod's loop: a fit(parameters, config) function or a "
    "flwr NumPyClient (instance, subclass or factory), imported from the working directory or the "
    "installed packages. It runs in this process.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where saved updates live across restarts (default: HOME/worker/task-ID-ADDRESS).",
)
@poll_option(0.3)
@click.option("--quiet", "-q", is_flag=True, help="Log lines instead of the live display (for log files).")
@click.option(
    "--attack",
    default="",
    callback=_check_attack,
    metavar="SPEC",
    help="Behave maliciously, for experiments: an attack spec such as sign_flip, scaled:factor=10, "
    "label_flip, alie:z=1.0, ipm:eps=0.5, gaussian:sigma=1.0, free_ride, near_copy:noise=0.01:scale=2 "
    "or withhold (app/ml/attacks).",
)
@agent_verify_options
@home_option
@node_option
@output_option
def run(
    task_id: int,
    key: str,
    data_spec: str,
    user_trainer: UserTrainer | None,
    state_dir: str | None,
    poll: float,
    quiet: bool,
    attack: str,
    verify: bool | None,
    grpc: str | None,
    home: str,
    node: str | None,
    output: str,
) -> None:
    """Join task --task, then each round train on --data (or with --trainer), commit, reveal; exit at its end.

    Progress goes to stderr; the summary (rounds contributed, reward) to stdout. Killed at any
    point, the same command resumes without submitting twice. With --attack the worker sends the
    same messages as an honest one but trains and commits as the attack prescribes.
    """
    if not data_spec and user_trainer is None:
        raise click.UsageError("give --data (Synod trains on it) or --trainer (your own code trains)")
    if attack and user_trainer is not None:
        raise click.UsageError("--attack trains with Synod's own loop: it does not combine with --trainer")
    signer = load_key(home, key)
    directory = Path(state_dir) if state_dir else default_state_dir(home, task_id, signer.address)
    config = WorkerConfig(
        task_id, data_spec, directory, poll_interval=poll, attack=attack, trainer=user_trainer
    )
    with client_errors():
        rpc = resolve_node(node, home)
    querier = agent_querier(home, rpc, grpc, verify)
    reporter = make_reporter(quiet, prefix=f"worker {signer.address[:14]}")
    if querier is not None:
        reporter.info(f"reads are verified against light-client headers (gRPC {querier.client.address})")
    try:
        # verification_failures: the node served state its proofs do not show
        with verification_failures(), follow_node(rpc.url, poll, reporter) as follower:
            summary = Worker(rpc, signer, config, reporter, querier=querier, follower=follower).run()
    except (WorkerError, RpcError, OSError) as e:  # a query the app refused, a state dir we cannot write
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:
        reporter.close()
        click.echo(f"interrupted; saved updates are in {directory}: run the same command to resume", err=True)
        sys.exit(130)
    finally:
        reporter.close()
    emit(output, summary.to_dict(), summary.describe())
