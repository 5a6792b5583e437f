"""The demo's agents: one `synod worker run` subprocess per key, each on its own non-IID shard, and
the committee members and predictors beside them (app/demo/story.py), all logging to DIR/logs.

Workers stay in the demo's process group, so a Ctrl-C in the terminal reaches them too; the demo
still stops each one itself (SIGTERM, then SIGKILL) before it returns. SIGTERM rather than SIGINT:
a process started in the background of a script inherits SIGINT ignored.
"""

from __future__ import annotations

import collections
import contextlib
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.node.toolchain import find_binary

__all__ = [
    "AgentProcess",
    "WorkerProcess",
    "last_event",
    "log_tail",
    "spawn_agent",
    "start_worker",
    "stop_workers",
    "worker_data_spec",
]

_STOP_SECONDS = 10.0


@dataclass
class AgentProcess:
    """One running agent (`synod worker|committee|predict run`): its log file and process."""

    log: Path
    process: subprocess.Popen[bytes]

    @property
    def exit_code(self) -> int | None:
        """The exit status once it has ended, else None."""
        return self.process.poll()


@dataclass
class WorkerProcess(AgentProcess):
    """One running worker: its key, node, private data and attack (empty: honest)."""

    index: int
    address: str
    node_url: str
    data_spec: str
    attack: str = ""


def spawn_agent(argv: list[str], log: Path) -> AgentProcess:
    """Launch argv (a `synod` subcommand) with stdout and stderr appended to log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [find_binary("synod"), *argv], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    return AgentProcess(log, process)


def worker_data_spec(dataset: str, index: int, count: int, alpha: float, seed: int) -> str:
    """Worker index's label-skewed shard, e.g. digits:shard=0/4:dirichlet=0.5:seed=7."""
    return f"{dataset}:shard={index}/{count}:dirichlet={alpha}:seed={seed}"


def start_worker(
    index: int,
    address: str,
    home: Path,
    task_id: int,
    node_url: str,
    data_spec: str,
    log: Path,
    trainer: str = "",
    attack: str = "",
) -> WorkerProcess:
    """Launch `synod worker run --quiet` (and --trainer, --attack) for the key `worker` in home."""
    argv = [
        "worker",
        "run",
        "--task",
        str(task_id),
        "--key",
        "worker",
        "--data",
        data_spec,
        "--home",
        str(home),
        "--node",
        node_url,
        "--quiet",
        *(["--trainer", trainer] if trainer else []),
        *(["--attack", attack] if attack else []),
    ]
    agent = spawn_agent(argv, log)
    return WorkerProcess(log, agent.process, index, address, node_url, data_spec, attack)


def stop_workers(workers: Sequence[AgentProcess], timeout: float = _STOP_SECONDS) -> None:
    """Terminate every agent still running, wait for them, and kill any that outlast timeout."""
    running = [w for w in workers if w.exit_code is None]
    for worker in running:
        with contextlib.suppress(ProcessLookupError):
            worker.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for worker in running:
        try:
            worker.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


def log_tail(path: Path, lines: int = 12) -> str:
    """The last lines of a log file (empty if it does not exist)."""
    if not path.exists():
        return ""
    with path.open(errors="replace") as handle:
        return "".join(collections.deque(handle, maxlen=lines)).rstrip()


def last_event(path: Path) -> str:
    """What an agent's log says it did last, without its time and prefix (`round 2: training ...:
    step 40/120`); empty before its first line."""
    line = log_tail(path, 1)
    for level in (" info  ", " warn  "):
        if level in line:
            return line.split(level, 1)[1]
    return line
