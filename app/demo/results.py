"""The demo's ending: per-round table, centralized reference, the validators' agreement, the plot."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from app.agents.evaluation import reference_accuracy, round_table, write_plot
from app.agents.worker.plan import TERMINAL_PHASES
from app.client.rpc import CometRPC, RpcError
from app.client.tasks import TasksClient
from app.demo.chain import DemoError, rpc_url
from app.demo.story import StoryResult
from app.demo.view import TaskWatcher
from app.node import localnet as net

__all__ = ["DemoResult", "NodeAnswer", "collect_final_hashes", "report_results"]

_AGREE_SECONDS = 30.0


@dataclass(frozen=True)
class NodeAnswer:
    """One validator's view of the ended task."""

    node: int
    height: int
    model_hash: bytes


@dataclass(frozen=True)
class DemoResult:
    """What the demo showed, in numbers."""

    task_id: int
    rounds: int
    initial_accuracy: float
    final_accuracy: float
    reference_accuracy: float
    final_model_hash: bytes
    agreeing_nodes: int
    plot: Path
    story: StoryResult = StoryResult()  # what the committee and the query did (app/demo/story.py)


def _ask_node(spec: net.LocalnetSpec, index: int, task_id: int) -> NodeAnswer:
    """Node i's height and final model hash, once its own state shows the task ended."""
    rpc = CometRPC(rpc_url(spec, index), timeout=5)
    deadline = time.monotonic() + _AGREE_SECONDS
    while True:
        try:
            height = int(rpc.status()["sync_info"]["latest_block_height"])
            resp = TasksClient(rpc).task(task_id)
            if resp.phase in TERMINAL_PHASES:
                return NodeAnswer(index, height, bytes(resp.task.model_hash))
        except RpcError as e:
            if time.monotonic() >= deadline:
                raise DemoError(f"node{index} did not answer: {e}") from None
        if time.monotonic() >= deadline:
            raise DemoError(f"node{index} still shows task {task_id} running after {_AGREE_SECONDS:.0f}s")
        time.sleep(0.3)


def collect_final_hashes(spec: net.LocalnetSpec, task_id: int) -> list[NodeAnswer]:
    """Every validator's final model hash for the task, each read through its own RPC."""
    return [_ask_node(spec, index, task_id) for index in range(spec.validators)]


def _agreement_table(answers: list[NodeAnswer], expected: bytes) -> Table:
    """One row per validator: its height and final model hash, and whether it matches the checkpoint."""
    table = Table(title="final model hash, asked of every validator", title_justify="left")
    for column in ("node", "height", "final model hash (sha-256)", "agrees"):
        table.add_column(column)
    for a in answers:
        agrees = "[green]yes[/]" if a.model_hash == expected else "[red]NO[/]"
        table.add_row(f"node{a.node}", str(a.height), a.model_hash.hex(), agrees)
    return table


def report_results(
    console: Console,
    watcher: TaskWatcher,
    spec: net.LocalnetSpec,
    plot: Path,
    title: str,
    train_data: str | None = None,
) -> DemoResult:
    """Print the results, write the plot, and return them; DemoError if the validators disagree.

    train_data names the workers' pooled rows for the reference when the task is on the user's data.
    """
    evals = watcher.final_evals()
    if len(evals) < 2:
        raise DemoError(f"task {watcher.task_id} ended with no aggregated round to show")
    console.print(f"task {watcher.task_id}, every checkpoint evaluated here on the task's test data:")
    console.print(round_table(evals))
    console.print("training the centralized reference on the union of the workers' data ...")
    reference = reference_accuracy(watcher.task, watcher.data, train_data)
    answers = collect_final_hashes(spec, watcher.task_id)
    final = evals[-1]
    console.print(_agreement_table(answers, final.model_hash))
    agreeing = sum(a.model_hash == final.model_hash for a in answers)
    if agreeing != len(answers):
        raise DemoError(f"only {agreeing} of {len(answers)} validators report the final checkpoint's hash")
    path = write_plot(evals, plot, reference=reference, title=title)
    console.print(
        f"[bold]final test accuracy {100 * final.accuracy:.2f}%[/] after {final.round} rounds "
        f"(initial model {100 * evals[0].accuracy:.2f}%, centralized reference {100 * reference:.2f}%)"
    )
    console.print(f"all {agreeing} validators agree on the final model {final.model_hash.hex()[:16]}")
    console.print(f"plot written to {path}")
    first = evals[0].accuracy
    return DemoResult(
        watcher.task_id, final.round, first, final.accuracy, reference, final.model_hash, agreeing, path
    )
