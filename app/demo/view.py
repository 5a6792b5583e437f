"""The demo's live view: follow the task through one node, evaluate each new checkpoint, draw tables.

Everything shown comes from queries any client can make (the task, the open round's commitments
and reveals, the checkpoint records and weights) plus local JAX evaluation of each checkpoint on
the task's public evaluation data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from app.agents.evaluation import RoundEval, evaluate_checkpoint, fetch_checkpoint
from app.agents.worker.plan import TERMINAL_PHASES
from app.client.rpc import CometRPC
from app.client.tasks import TasksClient
from app.demo.workers import WorkerProcess, last_event
from app.ml.evaldata import EvalData
from synod.tasks.v1 import query_pb2, tasks_pb2

__all__ = ["TaskWatcher", "WorkerInfo", "render"]

_ROUND_PHASES = ("commit", "reveal", "score", "closing")
_EVENT_CHARS = 48  # of a worker's last log line, its end (the step count) kept


@dataclass(frozen=True)
class WorkerInfo:
    """What the view shows about a worker: its process and a summary of its private shard."""

    process: WorkerProcess
    shard: str


@dataclass
class TaskWatcher:
    """Polls one task through one node and evaluates each checkpoint once, as it appears."""

    rpc: CometRPC
    task_id: int
    data: EvalData
    height: int = 0
    response: query_pb2.QueryTaskResponse = field(default_factory=query_pb2.QueryTaskResponse)
    commits: int = 0
    reveals: int = 0
    participants: dict[str, tasks_pb2.Participant] = field(default_factory=dict)
    records: dict[int, tasks_pb2.RoundRecord] = field(default_factory=dict)
    evals: dict[int, RoundEval] = field(default_factory=dict)

    @property
    def client(self) -> TasksClient:
        """Typed task queries through the node."""
        return TasksClient(self.rpc)

    @property
    def task(self) -> tasks_pb2.Task:
        """The task as of the last poll."""
        return self.response.task

    @property
    def ended(self) -> bool:
        """True once the task is finished, cancelled or failed."""
        return self.response.phase in TERMINAL_PHASES

    def poll(self) -> None:
        """Read the height, the task, the open round and the participants; evaluate new checkpoints."""
        self.height = int(self.rpc.status()["sync_info"]["latest_block_height"])
        self.response = self.client.task(self.task_id)
        self.commits = self.reveals = 0
        if self.response.phase in _ROUND_PHASES:
            state = self.client.round_state(self.task_id, self.response.round)
            self.commits, self.reveals = len(state.commitments), len(state.reveals)
        self.participants = {p.address: p for p in self.client.participants(self.task_id)}
        if len(self.records) <= self.task.rounds_done:
            self.records.update((r.round, r) for r in self.client.rounds(self.task_id))
        self.evaluate_new()

    def evaluate_new(self) -> None:
        """Download and evaluate the checkpoints not evaluated yet."""
        for round_ in sorted(set(self.records) - set(self.evals)):
            checkpoint = fetch_checkpoint(self.client, self.task_id, round_)
            self.evals[round_] = evaluate_checkpoint(self.task.model, checkpoint, self.data)

    def final_evals(self) -> list[RoundEval]:
        """Every round's evaluation, in order."""
        return [self.evals[r] for r in sorted(self.evals)]


def _phase_text(watcher: TaskWatcher) -> str:
    """Where the task stands, in words."""
    resp = watcher.response
    left = max(0, resp.phase_end_height - watcher.height)
    if resp.phase == "join":
        return f"join phase, {left} blocks left, {watcher.task.worker_count} workers joined"
    if resp.phase in _ROUND_PHASES:
        return f"round {resp.round}/{watcher.task.schedule.rounds} {resp.phase} phase, {left} blocks left"
    return resp.phase or "starting"


def _round_row(watcher: TaskWatcher, round_: int) -> tuple[str, ...]:
    """One round's cells: round, phase, blocks left, commits, reveals, accepted, rejected, model, accuracy."""
    resp, evaluated = watcher.response, watcher.evals.get(round_)
    accuracy = f"{100 * evaluated.accuracy:.1f}%" if evaluated else ""
    record = watcher.records.get(round_)
    if round_ == 0:
        model = record.model_hash.hex()[:12] if record else ""
        return ("0", "initial model", "", "", "", "", "", model, accuracy)
    if record is not None:
        outcome = tasks_pb2.RoundOutcome.Name(record.outcome).removeprefix("ROUND_OUTCOME_").lower()
        counts = (
            str(record.committed),
            str(record.revealed),
            str(len(record.accepted_workers)),
            str(len(record.rejected_workers)),
        )
        return (str(round_), outcome, "", *counts, record.model_hash.hex()[:12], accuracy)
    if resp.phase in _ROUND_PHASES and resp.round == round_:
        left = str(max(0, resp.phase_end_height - watcher.height))
        live = (str(watcher.commits), str(watcher.reveals))
        return (str(round_), f"[bold]{resp.phase}[/]", left, *live, "", "", "", "")
    return (str(round_), "[dim]pending[/]", "", "", "", "", "", "", "")


def _rounds_table(watcher: TaskWatcher) -> Table:
    """One row per round, the initial model first."""
    table = Table(title=f"task {watcher.task_id}: {watcher.task.description}", title_justify="left")
    columns = (
        "round",
        "phase",
        "blocks left",
        "commits",
        "reveals",
        "accepted",
        "rejected",
        "model",
        "test acc",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("phase", "model") else "right")
    for round_ in range(watcher.task.schedule.rounds + 1):
        table.add_row(*_round_row(watcher, round_))
    return table


def _process_text(worker: WorkerProcess) -> str:
    """Running (with what its log says it did last: `round 2: training ...: step 40/120`), or its exit."""
    code = worker.exit_code
    if code is not None:
        return "exited 0" if code == 0 else f"[red]exited {code}[/]"
    event = last_event(worker.log)
    return escape(event[-_EVENT_CHARS:]) if event else "[green]running[/]"


def _workers_table(watcher: TaskWatcher, workers: Sequence[WorkerInfo]) -> Table:
    """One row per worker: address, node, private shard, accepted and rejected updates, stake
    slashed, and what it is doing."""
    table = Table(title="workers (each trains with JAX on its own label-skewed shard)", title_justify="left")
    for column in ("worker", "node", "private data", "accepted", "rejected", "slashed", "doing"):
        table.add_column(column, justify="right" if column in ("accepted", "rejected") else "left")
    for info in workers:
        worker = info.process
        p = watcher.participants.get(worker.address)
        counts = (
            ("-", "-", "-")
            if p is None
            else (str(p.accepted_updates), str(p.rejected_updates), p.slashed or "0")
        )
        name = f"{worker.index} {worker.address[:14]}…" + (
            f" [red]{worker.attack}[/]" if worker.attack else ""
        )
        node = worker.node_url.removeprefix("http://")
        table.add_row(name, node, info.shard, *counts, _process_text(worker))
    return table


def render(
    watcher: TaskWatcher, workers: Sequence[WorkerInfo], elapsed: float, notes: Sequence[str] = ()
) -> RenderableType:
    """The whole live view; notes (the explorer's URL, the query's progress) go under the header."""
    header = Text.from_markup(f"[bold]height {watcher.height}[/] · {_phase_text(watcher)} · {elapsed:.0f}s")
    lines = [Text(note) for note in notes]
    return Group(header, *lines, _rounds_table(watcher), _workers_table(watcher, workers))
