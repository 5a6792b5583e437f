"""`synod query task ...`: tasks, their phase, round checkpoints, workers and model downloads."""

from __future__ import annotations

from typing import Any

import click
import numpy as np
from google.protobuf import json_format
from rich.console import Console
from rich.table import Table

from app.client.rpc import CometRPC
from app.client.tasks import TasksClient
from app.core.architectures import param_count
from app.core.fixedpoint import WEIGHT_FORMAT
from app.ml.quantize import WEIGHT_SPEC, dequantize
from cli.common import basic_options, client_errors, emit, resolve_node
from synod.tasks.v1 import tasks_pb2

__all__ = ["task_query"]

_PIPE_WIDTH = 160


@click.group("task")
def task_query() -> None:
    """Learning tasks: phase, rounds, checkpoints and workers."""


def _client(home: str, node: str | None) -> tuple[CometRPC, TasksClient]:
    """The node's RPC and a tasks client over it."""
    rpc = resolve_node(node, home)
    return rpc, TasksClient(rpc)


def _task_dict(task: tasks_pb2.Task) -> dict[str, Any]:
    """A task as JSON with proto field names, hashes as hex."""
    data = json_format.MessageToDict(
        task, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    data["model_hash"] = task.model_hash.hex()
    data["data"]["eval_hash"] = task.data.eval_hash.hex()
    data["status"] = _status(task)
    return data


def _status(task: tasks_pb2.Task) -> str:
    """JOINING -> joining."""
    return tasks_pb2.TaskStatus.Name(task.status).removeprefix("TASK_STATUS_").lower()


def _coin(c: Any) -> str:
    """A proto coin as 123usyn."""
    return f"{c.amount}{c.denom}"


def _show_text(task: tasks_pb2.Task, where: dict[str, Any]) -> str:
    """The human form of `query task show`."""
    m, h, s = task.model, task.hyper, task.schedule
    if where["phase"] in ("finished", "cancelled", "failed"):
        phase = where["phase"]
    else:
        label = (
            "join phase"
            if where["phase"] == "join"
            else f"round {where['round']}/{s.rounds} {where['phase']} phase"
        )
        phase = f"{label}, {where['blocks_left']} blocks left (until height {where['phase_end_height']})"
    rows = {
        "task": f"{task.id}: {task.description}",
        "owner": task.owner,
        "status": f"{_status(task)}; {phase}",
        "model": f"{m.arch} ({m.n_features} features, {m.n_classes} classes), hash {task.model_hash.hex()}",
        "data": f"{task.data.dataset}, evaluated on {task.data.eval_data}",
        "training": f"{h.optimizer}, lr {h.learning_rate_ppm / 1e6:g}, batch {h.batch_size}, "
        f"{h.local_epochs} epochs",
        "schedule": f"{s.rounds} rounds ({task.rounds_done} done); blocks: join {s.join_blocks}, commit "
        f"{s.commit_blocks}, reveal {s.reveal_blocks}, score {s.score_blocks}",
        "workers": f"{task.worker_count} joined (min {task.min_workers}, max {task.max_workers}), "
        f"stake {_coin(task.worker_stake)}",
        "reward": f"{_coin(task.reward)}, aggregated by {task.aggregation.rule}",
    }
    return "\n".join(f"{k + ':':10} {v}" for k, v in rows.items())


@task_query.command("show")
@click.argument("task_id", type=click.IntRange(1))
@basic_options
def show(task_id: int, home: str, node: str | None, output: str) -> None:
    """Show a task, its phase and round, and the blocks left in the phase."""
    with client_errors():
        rpc, client = _client(home, node)
        height = int(rpc.status()["sync_info"]["latest_block_height"])
        resp = client.task(task_id)
    where = {
        "phase": resp.phase,
        "round": resp.round,
        "phase_end_height": resp.phase_end_height,
        "height": height,
    }
    where["blocks_left"] = max(resp.phase_end_height - height, 0) if resp.phase_end_height else 0
    emit(output, {"task": _task_dict(resp.task), **where}, _show_text(resp.task, where))


def _print_table(title: str, headers: tuple[str, ...], rows: list[tuple[object, ...]], empty: str) -> None:
    """A rich table on stdout (or `empty` when there are no rows)."""
    if not rows:
        click.echo(empty)
        return
    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console = Console()
    if not console.is_terminal:
        console = Console(width=_PIPE_WIDTH)  # files and pipes get every column unwrapped
    console.print(table)


@task_query.command("list")
@basic_options
def list_tasks(home: str, node: str | None, output: str) -> None:
    """List every task with its status, rounds and workers."""
    with client_errors():
        tasks = _client(home, node)[1].tasks()
    if output == "json":
        emit(output, {"tasks": [_task_dict(t) for t in tasks]}, "")
        return
    rows = [
        (
            t.id,
            _status(t),
            t.model.arch,
            t.data.dataset,
            f"{t.rounds_done}/{t.schedule.rounds}",
            t.worker_count,
            _coin(t.reward),
            t.description,
        )
        for t in tasks
    ]
    _print_table(
        "tasks",
        ("ID", "STATUS", "ARCH", "DATASET", "ROUNDS", "WORKERS", "REWARD", "DESCRIPTION"),
        rows,
        "(no tasks)",
    )


def _round_dict(r: tasks_pb2.RoundRecord) -> dict[str, Any]:
    """A round record as JSON, hashes as hex."""
    data = json_format.MessageToDict(
        r, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    data["model_hash"] = r.model_hash.hex()
    data["accepted_update_hashes"] = [h.hex() for h in r.accepted_update_hashes]
    data["outcome"] = tasks_pb2.RoundOutcome.Name(r.outcome).removeprefix("ROUND_OUTCOME_").lower()
    return data


@task_query.command("rounds")
@click.argument("task_id", type=click.IntRange(1))
@basic_options
def rounds(task_id: int, home: str, node: str | None, output: str) -> None:
    """List a task's checkpoints: outcome, accepted/revealed/committed updates, model hash, height."""
    with client_errors():
        records = _client(home, node)[1].rounds(task_id)
    data = [_round_dict(r) for r in records]
    if output == "json":
        emit(output, {"task_id": task_id, "rounds": data}, "")
        return
    rows = [
        (
            d["round"],
            d["outcome"],
            f"{len(r.accepted_workers)}/{r.revealed}/{r.committed}",
            d["model_hash"][:16],
            r.height,
            r.note,
        )
        for d, r in zip(data, records, strict=True)
    ]
    headers = ("ROUND", "OUTCOME", "ACCEPTED/REVEALED/COMMITTED", "MODEL HASH", "HEIGHT", "NOTE")
    _print_table(f"task {task_id} rounds", headers, rows, f"(task {task_id} has no checkpoints)")


@task_query.command("participants")
@click.argument("task_id", type=click.IntRange(1))
@basic_options
def participants(task_id: int, home: str, node: str | None, output: str) -> None:
    """List a task's workers: when they joined, accepted and rejected updates, missed reveals, slashes."""
    with client_errors():
        client = _client(home, node)[1]
        members = client.participants(task_id)
    data = [
        json_format.MessageToDict(
            p, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        for p in members
    ]
    if output == "json":
        emit(output, {"task_id": task_id, "participants": data}, "")
        return
    with client_errors():
        denom = client.task(task_id).task.worker_stake.denom
    # Rejected and slashed side by side: a slashed cheater must not read like an idle worker.
    rows = [
        (
            p.address,
            p.joined_height,
            p.accepted_updates,
            p.rejected_updates,
            p.missed_reveals,
            f"{p.slashed or 0}{denom}",
        )
        for p in members
    ]
    headers = ("WORKER", "JOINED", "ACCEPTED", "REJECTED", "MISSED REVEALS", "SLASHED")
    _print_table(f"task {task_id} workers", headers, rows, f"(task {task_id} has no workers)")


@task_query.command("model")
@click.argument("task_id", type=click.IntRange(1))
@click.option(
    "--round",
    "round_",
    type=click.IntRange(0),
    default=None,
    help="Checkpoint round (default: the latest; 0 is the initial model).",
)
@click.option(
    "--out", "out", type=click.Path(dir_okay=False, writable=True), required=True, help="File to write."
)
@click.option(
    "--raw", is_flag=True, help="Write the int32 little-endian fixed-point bytes as stored on chain."
)
@basic_options
def model(
    task_id: int, round_: int | None, out: str, raw: bool, home: str, node: str | None, output: str
) -> None:
    """Download a checkpoint's weights, verified against the on-chain model hash.

    Writes a .npy of float32 weights (the model's flat parameter vector), or with --raw the chain's
    int32 fixed-point bytes (value * 65536, little-endian).
    """
    with client_errors():
        client = _client(home, node)[1]
        task = client.task(task_id).task
        record, weights = client.model(task_id, task.rounds_done if round_ is None else round_)
    size = param_count(task.model.arch, task.model.n_features, task.model.n_classes)
    with open(out, "wb") as handle:
        if raw:
            handle.write(weights)
        else:
            np.save(handle, dequantize(WEIGHT_FORMAT.decode(weights, size), WEIGHT_SPEC), allow_pickle=False)
    data = {
        "task_id": task_id,
        "round": record.round,
        "model_hash": record.model_hash.hex(),
        "parameters": size,
        "file": out,
        "format": "int32-raw" if raw else "npy-float32",
        "verified": True,
    }
    text = (
        f"round {record.round} of task {task_id}: {size} parameters written to {out}\n"
        f"model hash {record.model_hash.hex()}\nverified against the on-chain checkpoint"
    )
    emit(output, data, text)
