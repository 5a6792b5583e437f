"""`synod start`: one app process and its CometBFT node, supervised as a pair.

CometBFT never reconnects to a restarted app, so the two live and die together: SIGTERM or SIGINT
stops CometBFT first (so it stops calling the app), then closes the app's database; if CometBFT
exits, or an ABCI handler fails, the other side is stopped too and the reason is printed. CometBFT
gets PR_SET_PDEATHSIG, so even a SIGKILL of this process takes CometBFT down with it.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from app.abci.handlers import AbciHandlers
from app.abci.server import AbciServer
from app.app import SynodApp
from app.node.config import NodeHome, load_app_config, read_toml
from app.node.toolchain import check_cometbft
from app.state.backend import LevelDBBackend
from app.state.snapshots import SnapshotManager

__all__ = ["run_node", "NodeExit"]

log = logging.getLogger("synod.node")

_STOP_GRACE_SECONDS = 15
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class NodeExit:
    """Why the node stopped, and the process exit code to report."""

    code: int
    reason: str


def _die_with_parent() -> None:
    """In the child before exec: receive SIGKILL when the supervising process dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


async def _stop_process(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after a grace period."""
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), _STOP_GRACE_SECONDS)
    except TimeoutError:
        log.warning("CometBFT did not stop in %ss; killing it", _STOP_GRACE_SECONDS)
        proc.kill()
        await proc.wait()


async def run_node(home: NodeHome) -> NodeExit:
    """Run app + CometBFT until a signal, a CometBFT exit or an app failure."""
    home.require()
    binary = check_cometbft()
    abci_address = read_toml(home.config_toml).get("proxy_app", "tcp://127.0.0.1:26658")
    cfg = load_app_config(home)
    backend = LevelDBBackend(home.app_db)
    app = SynodApp(backend)
    # One worker: snapshots are serialized off the consensus path, one at a time.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot")
    snapshots = SnapshotManager(
        home.snapshot_dir,
        app.store,
        interval=cfg.snapshot_interval,
        keep_recent=cfg.snapshot_keep_recent,
        executor=pool,
        on_restored=app.reload,
    )
    server = AbciServer(AbciHandlers(app, snapshots=snapshots))
    await server.start(abci_address)
    height, app_hash = app.info()
    log.info("app listening on %s (committed height %d, app hash %s)", abci_address, height, app_hash.hex())
    home.log_dir.mkdir(exist_ok=True)
    cometbft_log = (home.log_dir / "cometbft.log").open("ab")
    cometbft = await asyncio.create_subprocess_exec(
        binary,
        "start",
        "--home",
        str(home.root),
        stdout=cometbft_log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    log.info("cometbft started (pid %d), log: %s", cometbft.pid, home.log_dir / "cometbft.log")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    waits = {
        asyncio.ensure_future(stop.wait()): "signal",
        asyncio.ensure_future(cometbft.wait()): "cometbft",
        asyncio.ensure_future(server.wait_failed()): "app",
    }
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    first = next(iter(done))
    cause = waits[first]
    for task in pending:
        task.cancel()
    await _stop_process(cometbft)
    await server.stop()
    snapshots.close()  # the worker may still be reading the database
    pool.shutdown(wait=True)
    backend.close()
    cometbft_log.close()
    if cause == "signal":
        return NodeExit(0, f"stopped by signal at height {app.store.height}")
    if cause == "cometbft":
        return NodeExit(
            1,
            f"CometBFT exited with code {first.result()}; the app was stopped too. "
            f"See {home.log_dir / 'cometbft.log'}",
        )
    return NodeExit(2, f"the app failed ({first.result()!r}); CometBFT was stopped too")
