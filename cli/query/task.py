"""`synod query task ...`: tasks, their phase, round checkpoints, workers and model downloads."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import click
import numpy as np
from google.protobuf import json_format
from rich.console import Console
from rich.table import Table

from app.client.tasks import TasksClient
from app.core.architectures import describe_arch, model_param_count
from app.core.fixedpoint import WEIGHT_FORMAT
from app.core.fsutil import write_atomically
from app.ml.export import EXPORT_FORMATS, write_model
from app.ml.quantize import WEIGHT_SPEC, dequantize
from cli.query.common import (
    QueryOpts,
    emit_answer,
    format_coin,
    open_querier,
    query_options,
    verified_heights,
)
from synod.tasks.v1 import tasks_pb2

__all__ = ["task_query"]

_PIPE_WIDTH = 160


def _format_of(out: str) -> str:
    """Return the export format OUT's suffix names (npy when it names none)."""
    suffix = out.rsplit(".", 1)[-1] if "." in out else ""
    return suffix if suffix in EXPORT_FORMATS else "npy"


@click.group("task")
def task_query() -> None:
    """Learning tasks: phase, rounds, checkpoints and workers."""


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
        early = "" if label.startswith("join") else "; earlier once its work is in"
        phase = (
            f"{label}, at most {where['blocks_left']} blocks left "
            f"(until height {where['phase_end_height']}{early})"
        )
    rows = {
        "task": f"{task.id}: {task.description}",
        "owner": task.owner,
        "status": f"{_status(task)}; {phase}",
        "model": f"{describe_arch(m.arch)} ({m.n_features} features, {m.n_classes} classes), "
        f"hash {task.model_hash.hex()}",
        "data": f"{task.data.dataset}, evaluated on {task.data.eval_data}",
        "training": f"{h.optimizer}, lr {h.learning_rate_ppm / 1e6:g}, batch {h.batch_size}, "
        f"{h.local_epochs} epochs",
        "schedule": f"{s.rounds} rounds ({task.rounds_done} done); blocks: join {s.join_blocks}, commit "
        f"{s.commit_blocks}, reveal {s.reveal_blocks}, score {s.score_blocks}",
        "workers": f"{task.worker_count} joined (min {task.min_workers}, max {task.max_workers}), "
        f"stake {format_coin(task.worker_stake)}",
        "reward": f"{format_coin(task.reward)}, aggregated by {task.aggregation.rule}",
    }
    return "\n".join(f"{k + ':':10} {v}" for k, v in rows.items())


@task_query.command("show")
@click.argument("task_id", type=click.IntRange(1))
@query_options
def show(opts: QueryOpts, task_id: int) -> None:
    """Show a task, its phase and round, and the blocks left in the phase."""
    with open_querier(opts) as querier:
        resp = TasksClient(querier).task(task_id)
        height, heights = querier.last_height, verified_heights(opts, querier)
    where = {
        "phase": resp.phase,
        "round": resp.round,
        "phase_end_height": resp.phase_end_height,
        "height": height,
    }
    where["blocks_left"] = max(resp.phase_end_height - height, 0) if resp.phase_end_height else 0
    emit_answer(opts, {"task": _task_dict(resp.task), **where}, _show_text(resp.task, where), heights)


def _print_table(
    title: str, headers: tuple[str, ...], rows: list[tuple[object, ...]], empty: str, heights: list[int]
) -> None:
    """A rich table on stdout (or `empty` when there are no rows), and the height it was verified at."""
    if heights:
        title = f"{title} (verified at height {heights[0]})"
    if not rows:
        click.echo(empty if not heights else f"{empty}\nverified at height {heights[0]}")
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
@query_options
def list_tasks(opts: QueryOpts) -> None:
    """List every task with its status, rounds and workers."""
    with open_querier(opts) as querier:
        tasks = TasksClient(querier).tasks()
        heights = verified_heights(opts, querier)
    if opts.output == "json":
        emit_answer(opts, {"tasks": [_task_dict(t) for t in tasks]}, "", heights)
        return
    rows = [
        (
            t.id,
            _status(t),
            describe_arch(t.model.arch),
            t.data.dataset,
            f"{t.rounds_done}/{t.schedule.rounds}",
            t.worker_count,
            format_coin(t.reward),
            t.description,
        )
        for t in tasks
    ]
    _print_table(
        "tasks",
        ("ID", "STATUS", "ARCH", "DATASET", "ROUNDS", "WORKERS", "REWARD", "DESCRIPTION"),
        rows,
        "(no tasks)",
        heights,
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
@query_options
def rounds(opts: QueryOpts, task_id: int) -> None:
    """List a task's checkpoints: outcome, accepted/revealed/committed updates, model hash, height."""
    with open_querier(opts) as querier:
        records = TasksClient(querier).rounds(task_id)
        heights = verified_heights(opts, querier)
    data = [_round_dict(r) for r in records]
    if opts.output == "json":
        emit_answer(opts, {"task_id": task_id, "rounds": data}, "", heights)
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
    _print_table(f"task {task_id} rounds", headers, rows, f"(task {task_id} has no checkpoints)", heights)


@task_query.command("participants")
@click.argument("task_id", type=click.IntRange(1))
@query_options
def participants(opts: QueryOpts, task_id: int) -> None:
    """List a task's workers: when they joined, accepted and rejected updates, missed reveals, slashes."""
    with open_querier(opts) as querier:
        client = TasksClient(querier)
        members = client.participants(task_id)
        heights = verified_heights(opts, querier)
        denom = client.task(task_id).task.worker_stake.denom
    data = [
        json_format.MessageToDict(
            p, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        for p in members
    ]
    if opts.output == "json":
        emit_answer(opts, {"task_id": task_id, "participants": data}, "", heights)
        return
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
    _print_table(f"task {task_id} workers", headers, rows, f"(task {task_id} has no workers)", heights)


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
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["npy", *EXPORT_FORMATS]),
    default=None,
    help="npz or safetensors: one float32 array per layout block (layer0.kernel, ...); npy: the flat "
    "vector (default: from OUT's suffix, .npy otherwise).",
)
@query_options
def model(opts: QueryOpts, task_id: int, round_: int | None, out: str, raw: bool, fmt: str | None) -> None:
    """Download a checkpoint's weights, checked against the on-chain model hash (with --verify, a
    hash proven against a header the light client verified).

    Writes float32 weights decoded from the int32 checkpoint: as .npz or .safetensors one array per
    parameter block of the task's layout, named by the block (layer0.kernel, layer0.bias, ...), as
    .npy the flat vector; with --raw the chain's int32 fixed-point bytes
    (value * 65536, little-endian).
    """
    if raw and fmt:
        raise click.UsageError("--raw writes the chain's bytes; leave out --format")
    fmt = "raw" if raw else fmt or _format_of(out)
    with open_querier(opts) as querier:
        client = TasksClient(querier)
        task = client.task(task_id).task
        record, weights = client.model(task_id, task.rounds_done if round_ is None else round_)
        heights = verified_heights(opts, querier)
    size = model_param_count(task.model)
    floats = dequantize(WEIGHT_FORMAT.decode(weights, size), WEIGHT_SPEC)
    if fmt in EXPORT_FORMATS:
        m = task.model
        meta = {
            "arch": m.arch,
            "input_shape": ",".join(map(str, m.input_shape)),
            "n_classes": str(m.n_classes),
        }
        meta |= {"task_id": str(task_id), "round": str(record.round), "model_hash": record.model_hash.hex()}
        write_model(out, fmt, m.arch, floats, tuple(m.input_shape) or (m.n_features,), m.n_classes, meta)
    elif fmt == "raw":
        write_atomically(Path(out), weights, mode=0o644)
    else:
        buffer = io.BytesIO()
        np.save(buffer, floats, allow_pickle=False)
        write_atomically(Path(out), buffer.getvalue(), mode=0o644)
    data = {
        "task_id": task_id,
        "round": record.round,
        "model_hash": record.model_hash.hex(),
        "parameters": size,
        "file": out,
        "format": "int32-raw" if fmt == "raw" else f"{fmt}-float32",
        "hash_checked": True,
    }
    text = (
        f"round {record.round} of task {task_id}: {size} parameters written to {out}\n"
        f"model hash {record.model_hash.hex()}, matched by the weights"
    )
    emit_answer(opts, data, text, heights)
