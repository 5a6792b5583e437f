"""`synod demo`: federated learning end to end on a fresh 4-validator localnet (no flags needed):
committee scoring with an attacker slashed, a consensus-learning prediction query, the explorer
page and a verified model download, each of which can be switched off (`--plain`: FedAvg alone)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

__all__ = ["demo"]


def _failures() -> tuple[type[Exception], ...]:
    """The errors that end the demo with their message (exit 1) rather than a traceback."""
    from app.client.keyring import KeyringError
    from app.client.rpc import RpcError
    from app.client.sender import SenderError, TxRejected
    from app.client.tasks import CheckpointMismatch
    from app.demo import DemoError
    from app.ml.datasets import DatasetError
    from app.node.localnet import LocalnetError
    from app.node.toolchain import ToolchainError

    chain = (DemoError, LocalnetError, ToolchainError, KeyringError, RpcError, SenderError, TxRejected)
    return (*chain, CheckpointMismatch, DatasetError)


def _check_trainer(spec: str) -> None:
    """Import --trainer here first, so a typo fails at once rather than in every worker's log."""
    from app.agents.usercode import TrainerLoadError, load_trainer

    try:
        load_trainer(spec)
    except TrainerLoadError as e:
        raise click.BadParameter(str(e), param_hint="--trainer") from None


def _story_parts(
    plain: bool, committee: bool, attack: str | None, query: bool, verify: bool, explorer: bool, workers: int
) -> Any:
    """The StoryParts the flags ask for; a usage error for an attack the run cannot show."""
    from app.demo import DEFAULT_ATTACK, StoryParts

    if plain:
        if attack not in (None, "none"):
            raise click.UsageError("--plain runs honest workers only: leave out --attack")
        return StoryParts.plain(explorer)
    chosen = DEFAULT_ATTACK if attack is None else ("" if attack == "none" else attack)
    if chosen and not committee:
        if attack is not None:
            raise click.UsageError("an --attack is caught by the committee: leave out --no-committee")
        chosen = ""
    if chosen:
        _check_attack(chosen)
        if workers < 2:
            raise click.UsageError(
                "an attacker needs at least one honest worker beside it: --workers 2 or more"
            )
    return StoryParts(committee, chosen, query, verify, explorer)


def _check_attack(spec: str) -> None:
    """Parse --attack here first, so a typo fails before any node starts."""
    from app.ml.attacks import AttackError, parse_worker_attack

    try:
        parse_worker_attack(spec)
    except AttackError as e:
        raise click.BadParameter(str(e), param_hint="--attack") from None


@click.command()
@click.option("--workers", type=click.IntRange(1, 32), default=4, show_default=True, help="Worker processes.")
@click.option("--rounds", type=click.IntRange(1, 100), default=5, show_default=True, help="Training rounds.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the localnet, worker homes and logs go (default: a new temp dir). An earlier demo "
    "there is replaced.",
)
@click.option("--keep", is_flag=True, help="Leave the localnet running at the end.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PNG of accuracy and loss per round (default: DIR/synod-demo.png).",
)
@click.option(
    "--alpha",
    type=click.FloatRange(min=0, min_open=True),
    default=0.5,
    show_default=True,
    help="Dirichlet label skew of the workers' shards (smaller: more skewed).",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the shard partition.")
@click.option(
    "--trainer",
    default="",
    metavar="PKG.MODULE:ATTR",
    help="Workers train with this code of yours (a fit function or a flwr NumPyClient, as "
    "`synod worker run --trainer` takes it), imported from the working directory.",
)
@click.option(
    "--trainer-workers",
    type=click.IntRange(0),
    default=None,
    help="How many workers (the first ones) use --trainer; the rest train with Synod's loop (default: all).",
)
@click.option(
    "--base-ip",
    default=None,
    help="Node 0's address, node i gets +i (default: 127.0.0.1 if free, else a free 127.0.X.1).",
)
@click.option(
    "--data",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Your own data: a CSV/TSV/Parquet/.npz file or an image folder (one subfolder per class). A fifth "
    "becomes the task's public evaluation rows, the rest the workers' private Dirichlet shards.",
)
@click.option("--label", default=None, help="The label column of --data (tabular files; default 'label').")
@click.option(
    "--arch", default=None, help="The model, e.g. logreg or mlp:64-32 (default: one suited to the data)."
)
@click.option(
    "--plain",
    is_flag=True,
    help="FedAvg with honest workers only: no committee, attacker, prediction query or verified download "
    "(the explorer still runs unless --no-explorer).",
)
@click.option(
    "--committee/--no-committee",
    default=True,
    show_default=True,
    help="Score every update in a score phase by every validator's `synod committee run`.",
)
@click.option(
    "--attack",
    default=None,
    metavar="SPEC",
    help="The last worker's attack (app/ml/attacks; needs the committee); 'none' for honest workers "
    "[default: sign_flip:scale=2].",
)
@click.option(
    "--query/--no-query",
    default=True,
    show_default=True,
    help="A prediction query on 40 held-out digits, answered by three `synod predict run` agents.",
)
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Download the final model with `synod query task model --verify` (proofs against a light client).",
)
@click.option(
    "--explorer/--no-explorer", default=True, show_default=True, help="Serve the explorer page of node0."
)
def demo(
    workers: int,
    rounds: int,
    directory: Path | None,
    keep: bool,
    plot: Path | None,
    alpha: float,
    seed: int,
    base_ip: str | None,
    data: Path | None,
    label: str | None,
    arch: str | None,
    trainer: str,
    trainer_workers: int | None,
    plain: bool,
    committee: bool,
    attack: str | None,
    query: bool,
    verify: bool,
    explorer: bool,
) -> None:
    """Start a localnet, post a task (digits, or --data), run WORKERS JAX workers on non-IID shards, plot it.

    Prints the explorer's URL first. Every validator scores every update (committee), the last
    worker attacks and is excluded and slashed, and three predictors settle a prediction query on
    digits. Shows each round live (commits, reveals, accepted and rejected updates, the new model's
    test accuracy), then the final accuracy beside a centrally trained reference, every validator's
    final model hash, the committee's verdicts, the query's payments, the final model downloaded
    with --verify, and the plot. Agents and nodes are stopped at the end, on Ctrl-C and on failure.
    """
    parts = _story_parts(plain, committee, attack, query, verify, explorer, workers)
    if trainer_workers is not None and (not trainer or trainer_workers > workers):
        raise click.UsageError(f"--trainer-workers needs --trainer and at most --workers ({workers})")
    if trainer:
        _check_trainer(trainer)
    # JAX loads here, not at `synod` start-up, so every other command stays fast.
    from app.demo import DemoOptions, run_demo

    console = Console()
    if not console.is_terminal:
        console = Console(width=120)  # a log file or pipe: room for the tables, no wrapping at 80
    started = time.monotonic()
    options = DemoOptions(
        workers,
        rounds,
        directory,
        keep,
        plot,
        alpha,
        seed,
        base_ip=base_ip,
        data=data,
        label=label,
        arch=arch,
        trainer=trainer,
        trainer_workers=trainer_workers,
        parts=parts,
    )
    try:
        run_demo(options, console)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: workers and nodes stopped[/]")
        sys.exit(130)
    except _failures() as e:
        raise click.ClickException(str(e)) from None
    console.print(f"demo finished in {time.monotonic() - started:.0f}s")
