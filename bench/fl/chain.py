"""Arm (a): the same FedAvg run through the tasks module, on a fresh 4-validator localnet.

It reuses the demo's machinery (app/agents): a localnet in a temp dir, one funded key per worker,
a task whose spec is the FLConfig (dataset, split, init seed, arch, optimizer, learning rate, batch
size, local epochs, rounds, rule `mean`), and one `synod worker run` process per key on exactly the
shard FLConfig.data_spec(i) names. This process only polls the task (every _POLL_SECONDS) to time the
rounds; after the task finishes it downloads every checkpoint (hash-checked against the chain) and
evaluates it on the task's test rows, the rows arms (b) and (c) are evaluated on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.agents.evaluation import evaluate_checkpoints, fetch_checkpoints, task_eval_data
from app.agents.taskspec import build_post_task, load_task_spec
from app.client.rpc import CometRPC, RpcError
from app.client.tasks import TasksClient
from app.core.architectures import model_param_count
from app.core.coins import parse_coins
from app.demo import chain as demo_chain
from app.demo.chain import DemoError
from app.demo.guard import interrupt_on_signals
from app.demo.plan import compute_schedule
from app.demo.workers import WorkerProcess, log_tail, start_worker, stop_workers
from app.ml.datasets import parse_data_spec
from app.node import localnet as net
from bench.fl.arms import CHAIN_NAME
from bench.fl.config import ArmResult, FLConfig

__all__ = ["COMMIT_SECONDS", "REVEAL_SECONDS", "data_spec_text", "run_chain", "task_spec"]

# Phase lengths in seconds, turned into blocks at the measured block time. A commit phase must cover
# every worker noticing the phase, downloading the checkpoint, training and getting its commitment
# into a block; a reveal phase one reveal transaction. Measured on a loaded 2-core machine (8 workers,
# 4 validators, ~0.6 s blocks): 3 s + 2 s had all 8 workers commit and reveal in every round, as did
# 5 s + 3 s; the note and results file carry each run's committed/aggregated counts to check.
COMMIT_SECONDS, REVEAL_SECONDS = 3.0, 2.0
_WORKER_FUNDS = "100000000000usyn"  # a 2M-parameter reveal is ~170M gas a round
_POLL_SECONDS = 0.1
_STALL_SECONDS = 90.0

OnStatus = Callable[[str], None]
OnRound = Callable[[int], None]


def data_spec_text(config: FLConfig, worker: int) -> str:
    """Return worker's --data string; it parses to exactly config.data_spec(worker)."""
    expected = config.data_spec(worker)
    text = (
        f"{expected.dataset}:shard={expected.shard}/{expected.shards}:dirichlet={expected.alpha}"
        f":seed={expected.seed}:split={expected.split}"
    )
    if parse_data_spec(text) != expected:
        raise DemoError(f"data spec {text!r} does not parse to {expected}")
    return text


def task_spec(config: FLConfig, schedule: dict[str, int]) -> dict[str, Any]:
    """Return the task spec of config: the same data, model, start and training as arms (b) and (c)."""
    return load_task_spec(
        {
            "description": f"bench/fl: {config.dataset} {config.arch}, {config.workers} workers",
            "dataset": config.dataset,
            "split": config.seed,
            "eval": "test",
            "model": {"arch": config.arch, "init_seed": config.seed, "input_shape": list(config.input_shape)},
            "hyper": {
                "optimizer": config.optimizer,
                "learning_rate": config.learning_rate,
                "batch_size": config.batch_size,
                "local_epochs": config.local_epochs,
            },
            "schedule": schedule,
            "workers": {"min": config.workers, "max": config.workers},
            "aggregation": {"rule": "mean", "params": {}},
        }
    )


@dataclass
class _Run:
    """One on-chain run: what it started (for the clean-up) and what it timed."""

    config: FLConfig
    root: Path
    on_status: OnStatus
    on_round: OnRound
    spec: net.LocalnetSpec | None = None
    workers: list[WorkerProcess] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    closes: list[float] = field(default_factory=list)  # round 1's start, then each round's close

    def run(self) -> ArmResult:
        """Every step; the finally clause stops the workers and the nodes."""
        try:
            return self._run()
        finally:
            stop_workers(self.workers)
            if net.is_generated(self.root / "localnet"):
                net.down(self.root / "localnet")

    def _run(self) -> ArmResult:
        """Start the network and workers, follow the task, evaluate its checkpoints."""
        self.on_status("starting a 4-validator localnet")
        self.spec = demo_chain.start_localnet(self.root / "localnet", 4)
        rpc = CometRPC(demo_chain.rpc_url(self.spec, 0))
        block_seconds = demo_chain.measure_block_seconds(rpc)
        sender = demo_chain.validator_sender(self.spec, 0)
        homes = [self.root / "workers" / f"worker{i}" for i in range(self.config.workers)]
        keys = demo_chain.create_worker_keys(homes)
        demo_chain.fund(sender, [k.address for k in keys], parse_coins(_WORKER_FUNDS))
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        schedule = compute_schedule(block_seconds, self.config.rounds, self.config.workers, cores)
        # A large model's round moves megabytes per worker (a checkpoint down, an update up in parts):
        # its phases get a second per 100k parameters more. Early close makes the slack free.
        size = model_param_count(build_post_task(sender.key.address, task_spec(self.config, schedule)).model)
        slack = size / 100_000
        schedule["commit_blocks"] = max(2, round((COMMIT_SECONDS + slack) / block_seconds))
        schedule["reveal_blocks"] = max(2, round((REVEAL_SECONDS + slack) / block_seconds))
        self.on_status("posting the task")
        task_id = demo_chain.post_task(sender, task_spec(self.config, schedule))
        client = TasksClient(rpc)
        self._check_task(client.task(task_id).task)
        for i, key in enumerate(keys):
            url = demo_chain.rpc_url(self.spec, i % self.spec.validators)
            log = self.root / "logs" / f"worker{i}.log"
            spec = data_spec_text(self.config, i)
            self.workers.append(start_worker(i, key.address, homes[i], task_id, url, spec, log))
        self.on_status(f"join phase ({schedule['join_blocks']} blocks)")
        longest = max(schedule["join_blocks"], schedule["commit_blocks"], schedule["reveal_blocks"])
        self._follow(client, task_id, max(_STALL_SECONDS, 1.5 * longest * block_seconds))
        self.on_status("evaluating the checkpoints")
        task = client.task(task_id).task
        checkpoints = [c for c in fetch_checkpoints(client, task_id) if c.round > 0]
        evals = evaluate_checkpoints(task.model, checkpoints, task_eval_data(task))
        records = [r for r in client.rounds(task_id) if r.round > 0]
        return self._result(evals, records, schedule, block_seconds)

    def _check_task(self, task: Any) -> None:
        """Refuse a posted task that differs from the config (a default slipping through)."""
        c, h = self.config, task.hyper
        posted = (task.data.dataset, task.model.arch, tuple(task.model.input_shape), task.schedule.rounds)
        posted += (h.optimizer, h.batch_size)
        posted += (h.local_epochs, h.learning_rate_ppm, task.aggregation.rule, task.data.eval_data)
        wanted = (c.dataset, c.arch, c.input_shape, c.rounds, c.optimizer, c.batch_size, c.local_epochs)
        wanted += (round(c.learning_rate * 1e6), "mean", f"{c.dataset}:test:split={c.seed}")
        if posted != wanted:
            raise DemoError(f"posted task {posted} differs from the config {wanted}")

    def _follow(self, client: TasksClient, task_id: int, stall_seconds: float) -> None:
        """Poll until the task ends, noting when round 1 starts and each round closes; give up when
        nothing moves for stall_seconds (longer than any phase's deadline)."""
        last_change, last_seen = time.monotonic(), ("", -1, -1)
        while True:
            try:
                response = client.task(task_id)
            except RpcError:
                response = None
            now = time.monotonic()
            if response is not None:
                seen = (response.phase, response.round, response.task.rounds_done)
                if seen != last_seen:
                    last_change, last_seen = now, seen
                if not self.closes and response.round >= 1:
                    self.closes.append(now)
                    self.on_status("rounds")
                while self.closes and len(self.closes) <= response.task.rounds_done:
                    self.closes.append(now)
                    self.on_round(len(self.closes) - 1)
                if response.phase == "finished":
                    return
                if response.phase in ("cancelled", "failed"):
                    raise DemoError(f"task {task_id} {response.phase}{self._logs()}")
            if now - last_change > stall_seconds:
                raise DemoError(f"task {task_id} made no progress for {stall_seconds:.0f}s{self._logs()}")
            if all(w.exit_code is not None for w in self.workers):
                raise DemoError(f"every worker exited before task {task_id} ended{self._logs()}")
            time.sleep(_POLL_SECONDS)

    def _logs(self) -> str:
        """The tails of the workers' logs, failed ones first."""
        failed = [w for w in self.workers if w.exit_code not in (None, 0)] or self.workers[:2]
        return "".join(f"\n--- worker {w.index} ({w.log}):\n{log_tail(w.log)}" for w in failed)

    def _result(
        self, evals: list[Any], records: list[Any], schedule: dict[str, int], block_seconds: float
    ) -> ArmResult:
        """The arm's result: accuracy per round, round times, start-up, and notes on what they include."""
        rounds = self.config.rounds
        seconds = [b - a for a, b in zip(self.closes, self.closes[1:], strict=False)]
        span = self.closes[-1] - self.closes[0]
        deadlines = (schedule["commit_blocks"] + schedule["reveal_blocks"]) * block_seconds
        committed = [int(r.committed) for r in records]
        accepted = [len(r.accepted_workers) for r in records]
        note = (
            f"{span / rounds:.2f} s/round over all {rounds} rounds (round 1 start to last close), "
            f"phases close once every worker is done (early close), else at their deadlines of "
            f"commit {schedule['commit_blocks']} + reveal {schedule['reveal_blocks']} blocks x "
            f"{block_seconds:.2f} s = {deadlines:.2f} s; includes tx inclusion, worker polling (0.3 s) "
            f"and ours (0.1 s); start-up = localnet + keys + post + {schedule['join_blocks']}-block join; "
            f"committed per round min {min(committed)}/{self.config.workers}, "
            f"aggregated min {min(accepted)}/{self.config.workers}"
        )
        return ArmResult(
            CHAIN_NAME,
            accuracy_pct=100 * evals[-1].accuracy,
            total_seconds=self.closes[-1] - self.started,
            startup_seconds=self.closes[0] - self.started,
            accuracy_pct_per_round=[100 * e.accuracy for e in evals],
            round_seconds=seconds,
            note=note,
            extra={
                "seconds_per_round_all": span / rounds,
                "round_deadline_seconds": deadlines,
                "block_seconds": block_seconds,
                "schedule": schedule,
                "committed_per_round": committed,
                "aggregated_per_round": accepted,
            },
        )


def run_chain(
    config: FLConfig, on_status: OnStatus | None = None, on_round: OnRound | None = None
) -> ArmResult:
    """Run config's rounds on a fresh localnet and return arm (a)'s result; stop everything on the way out."""
    root = Path(tempfile.mkdtemp(prefix="synod-bench-fl-"))
    run = _Run(config, root, on_status or (lambda _s: None), on_round or (lambda _r: None))
    with interrupt_on_signals():
        result = run.run()
    shutil.rmtree(root, ignore_errors=True)  # kept when the run failed, for its logs
    return result
