"""`synod task plot`: evaluate every round's on-chain checkpoint locally and plot accuracy and loss."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from app.client.rpc import RpcError
from app.client.tasks import CheckpointMismatch, TasksClient
from cli.common import home_option, node_option, resolve_node

__all__ = ["task"]


@click.group("task")
def task() -> None:
    """Inspect federated-learning tasks with local computation (JAX)."""


@task.command("plot")
@click.argument("task_id", type=click.IntRange(1))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PNG to write (default: task-ID.png).",
)
@click.option(
    "--reference",
    is_flag=True,
    help="Also train the model centrally on all training rows and draw its accuracy as a dashed line.",
)
@click.option(
    "--reference-data",
    "train_data",
    default=None,
    help="Training rows for --reference on a task over the owner's own data: a data spec (e.g. train.csv).",
)
@home_option
@node_option
def plot(
    task_id: int, out: Path | None, reference: bool, train_data: str | None, home: str, node: str | None
) -> None:
    """Download each round's checkpoint of TASK_ID (verified), evaluate it locally, write a PNG."""
    # JAX and matplotlib load here, not at `synod` start-up: every other command (and each
    # validator's `synod start`) stays fast.
    from app.agents import evaluation
    from app.ml.datasets import DatasetError

    console = Console()
    client = TasksClient(resolve_node(node, home))
    try:
        chain_task = client.task(task_id).task
        data = evaluation.task_eval_data(chain_task)
        checkpoints = evaluation.fetch_checkpoints(client, task_id)
        evals = evaluation.evaluate_checkpoints(chain_task.model, checkpoints, data)
        wanted = reference or train_data is not None
        baseline = evaluation.reference_accuracy(chain_task, data, train_data) if wanted else None
    except (RpcError, CheckpointMismatch, DatasetError) as e:
        raise click.ClickException(str(e)) from None
    title = f"task {task_id}: {chain_task.data.dataset} {chain_task.model.arch}, {len(data.y)} test rows"
    console.print(evaluation.round_table(evals, title))
    pruned = chain_task.rounds_done + 1 - len(evals)
    if pruned:
        console.print(f"{pruned} older rounds are pruned (only their hashes stay on chain): not plotted")
    if baseline is not None:
        console.print(f"centralized reference accuracy: {100 * baseline:.2f}%")
    path = evaluation.write_plot(evals, out or Path(f"task-{task_id}.png"), reference=baseline, title=title)
    console.print(f"wrote {path}")
