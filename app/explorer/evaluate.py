"""Test accuracy and loss of each task checkpoint, computed locally, once per checkpoint.

The chain records each round's checkpoint (weights and hash) and the committee's scores, but no
test loss: that needs the model run on the task's evaluation data, which `synod task plot` does
with JAX (app/agents/evaluation.py). The explorer does the same, reusing that module: the
refresher downloads a checkpoint (through the explorer's querier, so verified where reads are,
and checked against its on-chain hash by TasksClient.model) at most FETCHES_PER_BLOCK per block,
and one worker thread of its own evaluates it, so a slow evaluation never delays the page. A task
whose evaluation data cannot be loaded (not on this machine, a different copy than the owner
committed to, no JAX) is marked with the reason and not tried again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from app.client.querier import Querier
from app.client.rpc import RpcError
from app.client.tasks import CheckpointMismatch, TasksClient
from synod.tasks.v1 import tasks_pb2

__all__ = ["FETCHES_PER_BLOCK", "Evaluate", "Evaluator", "evaluate_with_jax"]

# Checkpoints downloaded per block for evaluation (each up to max_model_params x 4 bytes).
FETCHES_PER_BLOCK = 2

# (task, round, weights) -> (accuracy in [0, 1], mean cross-entropy loss)
Evaluate = Callable[[tasks_pb2.Task, int, bytes], tuple[float, float]]


def evaluate_with_jax() -> Evaluate:
    """The evaluation `synod task plot` runs (app/agents/evaluation.py), its data loaded once per task."""
    from app.agents import evaluation  # JAX loads here, in the evaluator's thread, not at start-up

    data: dict[int, Any] = {}

    def run(task: tasks_pb2.Task, round_: int, weights: bytes) -> tuple[float, float]:
        if task.id not in data:
            data[task.id] = evaluation.task_eval_data(task)
        checkpoint = evaluation.Checkpoint(round_, b"", weights)
        result = evaluation.evaluate_checkpoint(task.model, checkpoint, data[task.id])
        return result.accuracy, result.loss

    return run


class Evaluator:
    """Evaluates queued checkpoints in its own thread; results by (task id, round)."""

    def __init__(self, make_evaluate: Callable[[], Evaluate] = evaluate_with_jax) -> None:
        self.results: dict[tuple[int, int], dict[str, Any]] = {}
        self.errors: dict[int, str] = {}  # task id -> why its checkpoints are not evaluated
        self._asked: set[tuple[int, int]] = set()
        self._lock = threading.Lock()  # results and errors: written by the worker, read by the refresher
        self._queue: queue.Queue[tuple[tasks_pb2.Task, int, bytes, str] | None] = queue.Queue()
        self._make_evaluate = make_evaluate
        self.on_result: Callable[[], None] | None = None  # called (worker thread) after each result
        self._thread = threading.Thread(target=self._run, name="explorer evaluate", daemon=True)
        self._thread.start()

    def get_wanted(self, tasks: list[dict[str, Any]]) -> list[tuple[int, int]]:
        """(task, round) checkpoints of the snapshot's tasks not yet asked for, oldest round first."""
        wanted = []
        for t in tasks:
            with self._lock:
                if t["id"] in self.errors:
                    continue
            rounds = [0] + [r["round"] for r in t["rounds"] if r["model_hash"] and not r.get("pruned")]
            wanted += [(t["id"], r) for r in rounds if (t["id"], r) not in self._asked]
        return wanted

    def request(self, querier: Querier, tasks: list[dict[str, Any]]) -> None:
        """Download up to FETCHES_PER_BLOCK wanted checkpoints and queue them (the refresher's thread)."""
        client = TasksClient(querier)
        for task_id, round_ in self.get_wanted(tasks)[:FETCHES_PER_BLOCK]:
            self._asked.add((task_id, round_))
            try:
                task = client.task(task_id).task
                record, weights = client.model(task_id, round_)
            except (RpcError, CheckpointMismatch) as e:
                with self._lock:
                    self.results[(task_id, round_)] = {"error": str(e)}
                continue
            self._queue.put((task, round_, weights, record.model_hash.hex()))

    def _run(self) -> None:
        """Evaluate each queued checkpoint; a task whose data or model cannot be evaluated is dropped."""
        evaluate: Evaluate | None = None
        while (item := self._queue.get()) is not None:
            task, round_, weights, model_hash = item
            with self._lock:
                if task.id in self.errors:
                    continue
            try:
                evaluate = evaluate or self._make_evaluate()
                accuracy, loss = evaluate(task, round_, weights)
            except Exception as e:  # noqa: BLE001 - any failure (no JAX, no data, bad schema) is shown
                with self._lock:
                    self.errors[task.id] = f"{type(e).__name__}: {e}"
                if self.on_result is not None:
                    self.on_result()
                continue
            with self._lock:
                self.results[(task.id, round_)] = {
                    "accuracy": accuracy,
                    "loss": loss,
                    "model_hash": model_hash,
                }
            if self.on_result is not None:
                self.on_result()

    def merge(self, tasks: list[dict[str, Any]]) -> None:
        """Put the results into the snapshot's tasks: `evaluation` per task, per round and round 0."""
        with self._lock:
            results, errors = dict(self.results), dict(self.errors)
        for t in tasks:
            done = {r: v for (task_id, r), v in results.items() if task_id == t["id"] and "loss" in v}
            t["evaluation"] = {
                "error": errors.get(t["id"], ""),
                "rounds": [{"round": r, **done[r]} for r in sorted(done)],
            }

    def stop(self) -> None:
        """End the worker thread after its current evaluation."""
        self._queue.put(None)
