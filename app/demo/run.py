"""`synod demo`: federated learning on a fresh 4-validator localnet, from nothing to a plotted model.

Steps: start the localnet; create one key per worker (each in its own home) and fund them from
node0's genesis account; post the default task (digits, logreg, FedAvg) with phases sized in
blocks from the measured block time; start `synod worker run` per key on a Dirichlet label-skewed
shard (the first `trainer_workers` with the user's own `--trainer` code), spread over the validators'
RPCs; follow the rounds live, evaluating each checkpoint on the
task's test data; then compare the final model with a centrally trained reference, ask every
validator for the final model hash, and write the plot. Workers and nodes are stopped on the way
out, whatever happened (Ctrl-C, SIGTERM or an error), unless `keep` leaves the network running.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.live import Live

from app.agents.evaluation import task_eval_data
from app.agents.taskspec import load_task_spec
from app.client.keyring import KeyInfo
from app.client.rpc import CometRPC, RpcError
from app.client.sender import TxSender
from app.client.tasks import TasksClient
from app.core.architectures import describe_arch, model_param_count
from app.core.coins import parse_coins
from app.demo import chain
from app.demo.chain import DemoError
from app.demo.owndata import OwnData, prepare_own_data
from app.demo.results import DemoResult, report_results
from app.demo.view import TaskWatcher, WorkerInfo, render
from app.demo.workers import WorkerProcess, log_tail, start_worker, stop_workers, worker_data_spec
from app.ml.datasets import load_shard
from app.ml.schema import TaskSchema
from app.node import localnet as net

__all__ = ["DemoError", "DemoOptions", "DemoResult", "compute_schedule", "run_demo"]

_MARKER = ".synod-demo"
_WORKER_FUNDS = "100000000usyn"  # the stake (1000000usyn) plus every round's commit and reveal fees
_POLL_SECONDS = 0.5
_STALL_SECONDS = 60.0
_WORKER_EXIT_SECONDS = 30.0
# Phase lengths in seconds, turned into blocks at the measured block time. Joining covers each
# worker's start-up (Python + JAX import, one join transaction, compiling its training step
# during the join phase); a commit phase covers a download, local training and one transaction.
# Workers start in parallel, one per core: each batch of `cores` workers adds one start-up.
_JOIN_SECONDS, _JOIN_SECONDS_PER_BATCH = 15.0, 12.0
_COMMIT_SECONDS, _REVEAL_SECONDS = 8.0, 5.0


@dataclass(frozen=True)
class DemoOptions:
    """What the demo runs; every field has a default."""

    workers: int = 4
    rounds: int = 5
    directory: Path | None = None
    keep: bool = False
    plot: Path | None = None
    alpha: float = 0.5
    seed: int = 7
    validators: int = 4
    base_ip: str | None = None  # node 0's address; None: 127.0.0.1 if free, else a free 127.0.X.1
    data: Path | None = None  # the user's own file or image folder (app/demo/owndata.py); None: digits
    label: str | None = None  # its label column (tabular files)
    arch: str | None = None  # the model; None: logreg on digits, or one suited to --data
    trainer: str = ""  # pkg.module:attr of the user's own training code (`synod worker run --trainer`)
    trainer_workers: int | None = None  # how many workers (the first ones) use it; None: all


def compute_schedule(block_seconds: float, rounds: int, workers: int, cores: int) -> dict[str, int]:
    """The task's schedule in blocks, so each phase lasts at least its target seconds."""
    batches = math.ceil(workers / max(1, cores))

    def blocks(seconds: float) -> int:
        """Blocks that take at least seconds (never fewer than 2)."""
        return max(2, math.ceil(seconds / max(block_seconds, 0.05)))

    return {
        "rounds": rounds,
        "join_blocks": blocks(_JOIN_SECONDS + _JOIN_SECONDS_PER_BATCH * batches),
        "commit_blocks": blocks(_COMMIT_SECONDS),
        "reveal_blocks": blocks(_REVEAL_SECONDS),
        "score_blocks": 0,
    }


def _usable_cores() -> int:
    """The cores this process may run on (fewer than the machine's in a pinned container)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _task_spec(options: DemoOptions, block_seconds: float, own: OwnData | None) -> dict[str, Any]:
    """The default task with the demo's rounds, schedule and worker counts (and data, and model)."""
    schedule = compute_schedule(block_seconds, options.rounds, options.workers, _usable_cores())
    spec: dict[str, Any] = {
        "schedule": schedule,
        # max = the demo's own workers: the join phase closes as soon as the last of them joins.
        "workers": {"min": min(2, options.workers), "max": options.workers},
    }
    if own is not None:
        spec |= own.spec_overrides(options.arch)
    elif options.arch:
        spec["model"] = {"arch": options.arch}
    return load_task_spec(spec)


def _prepare_directory(directory: Path | None) -> Path:
    """A fresh temp dir, or directory emptied of a previous demo (anything else there is refused)."""
    if directory is None:
        root = Path(tempfile.mkdtemp(prefix="synod-demo-"))
    else:
        root = directory.resolve()
        if root.exists() and any(root.iterdir()):
            if not (root / _MARKER).exists():
                raise DemoError(f"{root} is not empty and holds no earlier demo: choose an empty --dir")
            if net.is_generated(root / "localnet"):
                net.remove(root / "localnet")  # refuses a network that is still running
            for stale in ("workers", "logs"):
                shutil.rmtree(root / stale, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
    (root / _MARKER).write_text("a `synod demo` directory: the next demo here replaces it\n")
    return root


def _shard_summary(data_spec: str, schema: TaskSchema) -> str:
    """Rows and the three most common labels of a worker's shard: `301 rows, labels 3 41%, 8 22%, 0 9%`."""
    shard = load_shard(data_spec, schema)
    names = schema.label_names or tuple(str(i) for i in range(schema.n_classes))
    labels, counts = np.unique(shard.y, return_counts=True)
    top = sorted(zip(counts.tolist(), labels.tolist(), strict=True), reverse=True)[:3]
    shares = ", ".join(f"{names[label]} {100 * count / len(shard.y):.0f}%" for count, label in top)
    return f"{len(shard.y)} rows, labels {shares}"


@contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Make SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt, so the clean-up runs for each."""
    # SIGINT too: a shell starts background jobs with it ignored, and Python then leaves it so.

    def interrupt(signum: int, _frame: object) -> None:
        """Raise KeyboardInterrupt in the main thread."""
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class _StallCheck:
    """Polls a watcher, tolerating a node that is briefly unreachable but not a chain that stops."""

    last_progress: float = field(default_factory=time.monotonic)
    height: int = -1

    def poll(self, watcher: TaskWatcher) -> None:
        """One poll; DemoError once node0 has not answered, or not advanced, for _STALL_SECONDS."""
        try:
            watcher.poll()
        except RpcError as e:
            if time.monotonic() - self.last_progress > _STALL_SECONDS:
                raise DemoError(f"node0 stopped answering: {e}") from None
            return
        if watcher.height > self.height:
            self.height, self.last_progress = watcher.height, time.monotonic()
        elif time.monotonic() - self.last_progress > _STALL_SECONDS:
            raise DemoError(f"the chain made no block for {_STALL_SECONDS:.0f}s (stuck at {self.height})")


@dataclass
class _Demo:
    """One run: what it started, so the clean-up knows what to stop."""

    options: DemoOptions
    console: Console
    root: Path
    spec: net.LocalnetSpec | None = None
    keys: list[KeyInfo] = field(default_factory=list)
    workers: list[WorkerProcess] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    own: OwnData | None = None

    def step(self, text: str) -> None:
        """Announce a step."""
        self.console.print(f"\n[bold]== {text}[/]  [dim]({time.monotonic() - self.started:.0f}s)[/]")

    def run(self) -> DemoResult:
        """Every step, then the results; the finally clause stops what was started."""
        try:
            self._read_own_data()
            block_seconds = self._start_network()
            sender = chain.validator_sender(self._spec, 0)
            task_id = self._fund_and_post(sender, block_seconds)
            infos = self._start_workers(task_id)
            watcher = self._follow(task_id, infos)
            train = str(self.own.train) if self.own else None
            return report_results(
                self.console, watcher, self._spec, self._plot_path(), self._title(watcher), train
            )
        finally:
            self._shutdown()

    @property
    def _spec(self) -> net.LocalnetSpec:
        """The running network's spec."""
        assert self.spec is not None, "the localnet has not been started"
        return self.spec

    def _read_own_data(self) -> None:
        """Split --data into evaluation rows and the workers' pool, before any node starts."""
        if self.options.data is None:
            return
        self.step(f"reading your data: {self.options.data}")
        own = prepare_own_data(
            self.options.data, self.options.label, self.root / "data", self.options.seed, self.options.workers
        )
        kind = "rows" if own.image_size is None else f"{own.image_size[1]}x{own.image_size[0]} images"
        self.console.print(
            f"{own.rows} {kind} of {own.features} features, classes {', '.join(own.label_names)}: "
            f"{own.held_out} held out as the task's public evaluation data "
            f"({own.eval}), the rest shared among the workers ({own.train})"
        )
        self.own = own

    def _start_network(self) -> float:
        """Start the localnet and return its measured seconds per block."""
        self.step(f"{self.options.validators}-validator localnet in {self.root / 'localnet'}")
        self.spec = chain.start_localnet(
            self.root / "localnet", self.options.validators, self.options.base_ip
        )
        block_seconds = chain.measure_block_seconds(CometRPC(chain.rpc_url(self.spec, 0)))
        last = net.node_ip(self.spec.base_ip, self.spec.validators - 1)
        where = f"nodes on {self.spec.base_ip} .. {last} (rpc :{net.RPC_PORT})"
        self.console.print(f"{where}, a block every {block_seconds:.2f}s")
        return block_seconds

    def _fund_and_post(self, sender: TxSender, block_seconds: float) -> int:
        """Create and fund the worker keys, then post the task; return its id."""
        count = self.options.workers
        self.step(f"{count} worker keys, funded by node0's genesis account")
        homes = [self.root / "workers" / f"worker{i}" for i in range(count)]
        self.keys = chain.create_worker_keys(homes)
        height = chain.fund(sender, [k.address for k in self.keys], parse_coins(_WORKER_FUNDS))
        self.console.print(
            f"sent {_WORKER_FUNDS} to each in block {height}; keyrings under {homes[0].parent}"
        )
        spec = _task_spec(self.options, block_seconds, self.own)
        s = spec["schedule"]
        self.step(f"posting the task: {spec['description']}")
        task_id = chain.post_task(sender, spec, self.root / "blobs")
        self.console.print(
            f"task {task_id}: {s['rounds']} rounds of commit {s['commit_blocks']} + reveal "
            f"{s['reveal_blocks']} blocks at most (a phase closes once every worker is done) after a "
            f"{s['join_blocks']}-block join phase, "
            f"reward {spec['reward']}, stake {spec['workers']['stake']} per worker"
        )
        m, h = TasksClient(sender.rpc).task(task_id).task.model, spec["hyper"]
        inputs = "x".join(str(d) for d in m.input_shape) or str(m.n_features)
        self.console.print(
            f"model {describe_arch(m.arch)}: {model_param_count(m):,} parameters on {inputs} inputs, "
            f"{m.n_classes} classes; {h['optimizer']} at {h['learning_rate']}, "
            f"{h['local_epochs']} epochs a round"
        )
        return task_id

    def _start_workers(self, task_id: int) -> list[WorkerInfo]:
        """Launch one worker per key, worker i through validator i mod N."""
        count = self.options.workers
        self.step(f"starting {count} workers (logs in {self.root / 'logs'})")
        infos = []
        schema = TaskSchema.from_task(TasksClient(CometRPC(chain.rpc_url(self._spec, 0))).task(task_id).task)
        pool = str(self.own.train) if self.own else "digits"
        trainer, with_trainer = self.options.trainer, self.options.trainer_workers
        for i, key in enumerate(self.keys):
            spec = worker_data_spec(pool, i, count, self.options.alpha, self.options.seed)
            url = chain.rpc_url(self._spec, i % self._spec.validators)
            home, log = self.root / "workers" / f"worker{i}", self.root / "logs" / f"worker{i}.log"
            user_code = trainer if trainer and (with_trainer is None or i < with_trainer) else ""
            process = start_worker(i, key.address, home, task_id, url, spec, log, user_code)
            self.workers.append(process)
            summary = _shard_summary(spec, schema)
            infos.append(WorkerInfo(process, f"{summary} ({user_code})" if user_code else summary))
        return infos

    def _follow(self, task_id: int, infos: list[WorkerInfo]) -> TaskWatcher:
        """Show the rounds live until the task ends and the workers exit; fail if either gives up."""
        self.step("federated learning on chain (Ctrl-C stops everything)")
        rpc = CometRPC(chain.rpc_url(self._spec, 0))
        watcher = TaskWatcher(rpc, task_id, task_eval_data(TasksClient(rpc).task(task_id).task))
        stall = _StallCheck()
        ended_at: float | None = None
        try:
            with Live(console=self.console, refresh_per_second=4, transient=False) as live:
                while True:
                    stall.poll(watcher)
                    if watcher.ended:
                        ended_at = ended_at or time.monotonic()
                    else:
                        self._check_workers(watcher)
                    done = ended_at is not None and self._workers_done(ended_at)
                    live.update(render(watcher, infos, time.monotonic() - self.started))
                    if done:
                        break
                    time.sleep(_POLL_SECONDS)
        finally:
            self.console.print()  # the live view leaves the cursor at its last line's end
        if watcher.response.phase != "finished":
            raise DemoError(f"task {task_id} {watcher.response.phase}{self._worker_logs()}")
        for worker in self.workers:
            if worker.exit_code != 0:
                self.console.print(f"[yellow]worker {worker.index} ended badly: see {worker.log}[/]")
        return watcher

    def _workers_done(self, ended_at: float) -> bool:
        """True once every worker has exited after the task ended, or they had their time to."""
        exited = all(w.exit_code is not None for w in self.workers)
        return exited or time.monotonic() - ended_at > _WORKER_EXIT_SECONDS

    def _check_workers(self, watcher: TaskWatcher) -> None:
        """Fail if every worker has exited while the task still runs."""
        if self.workers and all(w.exit_code is not None for w in self.workers):
            raise DemoError(f"every worker exited before task {watcher.task_id} ended{self._worker_logs()}")

    def _worker_logs(self) -> str:
        """The tails of the logs of workers that failed, for error messages."""
        failed = [w for w in self.workers if w.exit_code not in (None, 0)] or self.workers
        return "".join(f"\n--- worker {w.index} ({w.log}):\n{log_tail(w.log)}" for w in failed)

    def _plot_path(self) -> Path:
        """--plot, else the demo directory's synod-demo.png."""
        return self.options.plot or self.root / "synod-demo.png"

    def _title(self, watcher: TaskWatcher) -> str:
        """The plot's title."""
        task = watcher.task
        return (
            f"Synod task {task.id}: {task.data.dataset} {describe_arch(task.model.arch)}, "
            f"{self.options.workers} workers "
            f"(Dirichlet alpha={self.options.alpha}), {self.options.validators} validators"
        )

    def _shutdown(self) -> None:
        """Stop the workers, then the network (unless kept)."""
        stop_workers(self.workers)
        directory = self.root / "localnet"
        if not net.is_generated(directory):
            return
        if self.options.keep and self.spec is not None:
            self.console.print(
                f"the localnet keeps running: `synod localnet down --dir {directory}` stops it"
            )
            return
        stopped = net.down(directory)
        done = f"stopped {len(stopped)} nodes and {len(self.workers)} workers"
        self.console.print(f"{done}; data kept in {self.root}")


def run_demo(options: DemoOptions, console: Console | None = None) -> DemoResult:
    """Run the whole demo; raise DemoError (or KeyboardInterrupt) after cleaning up."""
    with interrupt_on_signals():
        demo = _Demo(options, console or Console(), _prepare_directory(options.directory))
        return demo.run()
