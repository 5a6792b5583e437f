"""Evaluate a task's per-round checkpoints on its evaluation data, and plot accuracy and loss per round.

Off-chain and read-only: checkpoints come from TasksClient.model (each checked against its on-chain
hash), the evaluation rows from the reference the task names (checked against the task's eval
hash), and the floats computed here never go back to the chain. `synod task plot` and `synod demo`
share this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from app.client.tasks import TasksClient
from app.core.architectures import model_param_count
from app.ml.datasets import DATASETS, DatasetError, load_dataset, load_shard
from app.ml.evaldata import EvalData, load_eval_data
from app.ml.quantize import WEIGHT_SPEC, decode, dequantize
from app.ml.schema import TaskSchema
from app.ml.train import TrainConfig, evaluate, train_centralized
from synod.tasks.v1 import tasks_pb2

__all__ = [
    "Checkpoint",
    "RoundEval",
    "evaluate_checkpoint",
    "evaluate_checkpoints",
    "fetch_checkpoint",
    "fetch_checkpoints",
    "reference_accuracy",
    "round_table",
    "task_eval_data",
    "write_plot",
]

_SPLIT = re.compile(r":split=([0-9]+)\Z")  # \Z, not $ (which also matches before a final newline)


@dataclass(frozen=True)
class Checkpoint:
    """One round's global model as the chain recorded it: int32 fixed-point weights and their hash."""

    round: int
    model_hash: bytes
    weights: bytes


@dataclass(frozen=True)
class RoundEval:
    """A checkpoint's test accuracy (a fraction in [0, 1]) and mean cross-entropy loss."""

    round: int
    accuracy: float
    loss: float
    model_hash: bytes


def task_eval_data(task: tasks_pb2.Task) -> EvalData:
    """The task's evaluation rows as its model takes them (the schema's standardization applied).

    DatasetError if they cannot be fetched, do not hash to the task's eval hash, or do not fit its schema.
    """
    raw = load_eval_data(task.data.eval_data, bytes(task.data.eval_hash), int(task.model.n_classes))
    x, y = TaskSchema.from_task(task).fit(raw.x, raw.y, f"evaluation data {raw.reference}")
    return EvalData(raw.reference, x, y, int(task.model.n_classes))


def fetch_checkpoint(client: TasksClient, task_id: int, round_: int) -> Checkpoint:
    """Download one round's checkpoint (CheckpointMismatch if the bytes do not match the chain's hash)."""
    record, weights = client.model(task_id, round_)
    return Checkpoint(int(record.round), bytes(record.model_hash), weights)


def fetch_checkpoints(client: TasksClient, task_id: int) -> list[Checkpoint]:
    """Download every retained round's checkpoint in round order, round 0 (the initial model) first
    unless pruned: rounds whose weights the retention policy released keep only their hash."""
    return [fetch_checkpoint(client, task_id, int(r.round)) for r in client.rounds(task_id) if not r.pruned]


def evaluate_checkpoint(model: tasks_pb2.ModelSpec, checkpoint: Checkpoint, data: EvalData) -> RoundEval:
    """Decode a checkpoint's weights for the task's model and evaluate them on data."""
    size = model_param_count(model)
    flat = dequantize(decode(checkpoint.weights, WEIGHT_SPEC, size), WEIGHT_SPEC)
    accuracy, loss = evaluate(model.arch, flat, data.x, data.y, model.input_shape)
    return RoundEval(checkpoint.round, accuracy, loss, checkpoint.model_hash)


def evaluate_checkpoints(
    model: tasks_pb2.ModelSpec, checkpoints: Sequence[Checkpoint], data: EvalData
) -> list[RoundEval]:
    """Evaluate each checkpoint, in round order."""
    ordered = sorted(checkpoints, key=lambda c: c.round)
    return [evaluate_checkpoint(model, checkpoint, data) for checkpoint in ordered]


def reference_accuracy(task: tasks_pb2.Task, data: EvalData, train_data: str | None = None) -> float:
    """Accuracy on data of the task's model trained centrally on every training row, the baseline.

    The rows are the package dataset's training part, or for a task on the owner's own data the
    data spec train_data names (read through the task's schema); DatasetError if there are none.
    """
    # The workers' shards partition exactly these rows. The reference makes as many passes over them
    # as the federation does in all (rounds x local epochs), with the task's optimizer and batch size.
    if train_data is not None:
        shard = load_shard(train_data, TaskSchema.from_task(task))
        x, y = shard.x, shard.y
    elif task.data.dataset in DATASETS:
        match = _SPLIT.search(task.data.eval_data)
        dataset = load_dataset(task.data.dataset, seed=int(match[1]) if match else 0)
        x, y = dataset.x_train, dataset.y_train
    else:
        raise DatasetError(
            f"task {task.id} learns the owner's own data ({task.data.dataset}): name the training rows "
            "to train the reference on"
        )
    hyper = task.hyper
    config = TrainConfig(
        optimizer=hyper.optimizer,
        learning_rate=hyper.learning_rate_ppm / 1_000_000,
        batch_size=int(hyper.batch_size),
        epochs=max(1, int(task.schedule.rounds) * int(hyper.local_epochs)),
    )
    m = task.model
    weights = train_centralized(m.arch, x, y, int(m.n_classes), config, m.input_shape)
    accuracy, _ = evaluate(m.arch, weights, data.x, data.y, m.input_shape)
    return accuracy


def round_table(evals: Sequence[RoundEval], title: str = "") -> Table:
    """A table of round, test accuracy (%), loss and model hash prefix, one row per round."""
    table = Table(title=title or None)
    for column in ("round", "accuracy %", "loss"):
        table.add_column(column, justify="right")
    table.add_column("model hash")
    for e in evals:
        table.add_row(str(e.round), f"{100 * e.accuracy:.2f}", f"{e.loss:.4f}", e.model_hash.hex()[:12])
    return table


def write_plot(
    evals: Sequence[RoundEval], path: str | Path, *, reference: float | None = None, title: str = ""
) -> Path:
    """Write a PNG with test accuracy (%) and loss per round; reference (a fraction) as a dashed line."""
    # The object API with no pyplot: no global figure state, and Figure.savefig renders with Agg.
    from matplotlib.figure import Figure

    if not evals:
        raise ValueError("no checkpoints to plot")
    rounds = [e.round for e in evals]
    figure = Figure(figsize=(10, 4), layout="constrained")
    accuracy_axes, loss_axes = figure.subplots(1, 2)
    accuracy_axes.plot(rounds, [100 * e.accuracy for e in evals], marker="o", label="federated (on chain)")
    if reference is not None:
        accuracy_axes.axhline(100 * reference, linestyle="--", color="gray", label="centralized reference")
    accuracy_axes.set(xlabel="round", ylabel="test accuracy (%)", ylim=(0, 100), title="accuracy")
    accuracy_axes.legend(loc="lower right")
    loss_axes.plot(rounds, [e.loss for e in evals], marker="o", color="tab:red")
    loss_axes.set(xlabel="round", ylabel="test loss (cross-entropy)", title="loss")
    for axes in (accuracy_axes, loss_axes):
        axes.set_xticks(rounds)
        axes.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png", dpi=120)
    return out
