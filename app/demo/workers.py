"""The demo's workers: one `synod worker run` subprocess per key, each on its own non-IID shard.

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
from dataclasses import dataclass
from pathlib import Path

from app.node.toolchain import find_binary

__all__ = ["WorkerProcess", "log_tail", "start_worker", "stop_workers", "worker_data_spec"]

_STOP_SECONDS = 10.0


@dataclass
class WorkerProcess:
    """One running worker: its key, node, private data, log file and process."""

    index: int
    address: str
    node_url: str
    data_spec: str
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def exit_code(self) -> int | None:
        """The exit status once it has ended, else None."""
        return self.process.poll()


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
) -> WorkerProcess:
    """Launch `synod worker run --quiet` (and --trainer) for the key `worker` in home, output to log."""
    argv = [
        find_binary("synod"),
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
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    return WorkerProcess(index, address, node_url, data_spec, log, process)


def stop_workers(workers: list[WorkerProcess], timeout: float = _STOP_SECONDS) -> None:
    """Terminate every worker still running, wait for them, and kill any that outlast timeout."""
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
