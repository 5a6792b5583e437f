"""Processes a localnet runs beside its nodes: the explorer page of node0.

`synod localnet up` starts `synod explorer --home DIR/node0 --listen NODE0_IP:8080` detached, once
the nodes make blocks, records it in localnet.json beside the nodes, and prints its URL; `synod
localnet down` stops it before the nodes. Each network listens on its own node0 address, so two
localnets on one machine do not collide. A port already taken makes the explorer exit at once: the
network still comes up, and the caller says why there is no page (DIR/explorer.log).
"""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

from app.node import localnet as net
from app.node.processes import ProcessRecord, is_running, signal_and_wait, spawn_detached
from app.node.toolchain import find_binary

__all__ = [
    "EXPLORER_PORT",
    "explorer_log",
    "explorer_url",
    "running_explorer",
    "start_explorer",
    "stop_explorer",
]

EXPLORER_PORT = 8080
_NAME = "explorer"
_STOP_SECONDS = 10.0
_READY_SECONDS = 60.0  # importing the page's server and reading node0 on a busy 2-core machine
_POLL_SECONDS = 0.25


def explorer_url(spec: net.LocalnetSpec) -> str:
    """Where node0's explorer page is served."""
    return f"http://{net.node_ip(spec.base_ip, 0)}:{EXPLORER_PORT}/"


def explorer_log(directory: Path) -> Path:
    """The explorer's output."""
    return Path(directory) / "explorer.log"


def _argv(spec: net.LocalnetSpec) -> list[str]:
    """`synod explorer` for node0's home on node0's address."""
    home = net.node_home(spec.directory, 0).root
    listen = f"{net.node_ip(spec.base_ip, 0)}:{EXPLORER_PORT}"
    return [find_binary("synod"), "explorer", "--home", str(home), "--listen", listen]


def _is_ours(spec: net.LocalnetSpec, record: ProcessRecord) -> bool:
    """True if record is alive and still the explorer started for this network."""
    return record.cmdline[-6:] == _argv(spec)[-6:] and is_running(record)


def running_explorer(directory: Path) -> int | None:
    """The pid of the network's explorer, if it runs."""
    record = net.get_service(directory, _NAME)
    if record is None or not _is_ours(net.load_spec(directory), record):
        return None
    return record.pid


def _wait_ready(spec: net.LocalnetSpec, record: ProcessRecord, timeout: float) -> bool:
    """True once the page's /healthz answers; False if the process exits first or timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_ours(spec, record):
        try:
            with urllib.request.urlopen(explorer_url(spec) + "healthz", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(_POLL_SECONDS)
    return False


def start_explorer(directory: Path, timeout: float = _READY_SECONDS) -> str | None:
    """Start the explorer of node0 detached (unless it runs), wait until it serves, and return its
    URL; None if it exited or never answered (its log says why; it is stopped then)."""
    spec = net.load_spec(directory)
    if running_explorer(directory) is not None:
        return explorer_url(spec)
    record = spawn_detached(_argv(spec), explorer_log(spec.directory), cwd=spec.directory)
    net.set_service(directory, _NAME, record)
    if record is None or not _wait_ready(spec, record, timeout):
        stop_explorer(directory)
        return None
    return explorer_url(spec)


def stop_explorer(directory: Path) -> bool:
    """SIGTERM the network's explorer and wait for it; False if it was not running."""
    record = net.get_service(directory, _NAME)
    net.set_service(directory, _NAME, None)
    if record is None or not _is_ours(net.load_spec(directory), record):
        return False
    return bool(signal_and_wait([record], signal.SIGTERM, _STOP_SECONDS))
