"""`synod start`: one app process and its CometBFT node, supervised as a pair.

The app process serves ABCI to CometBFT and, on the same asyncio loop, the gRPC query server
(config/app.toml `grpc_address`; DESIGN.md section 1) and the REST gateway with /metrics
(`api_address`; app/rest/README.md). CometBFT never reconnects to a restarted app,
so the two live and die together: SIGTERM or SIGINT stops CometBFT first (so it stops calling the
app), then the gRPC server, then closes the app's database; if CometBFT
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
from typing import IO

from app.abci.handlers import AbciHandlers
from app.abci.server import AbciServer
from app.app import SynodApp
from app.client.keyring import Keyring, KeyringError
from app.client.rpc import CometRPC
from app.grpc.server import QueryServer
from app.node.blskey import load_bls_key
from app.node.config import NodeHome, load_app_config, read_toml
from app.node.dkgtask import DkgTask
from app.node.toolchain import check_cometbft
from app.rest.server import RestServer
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


def _load_beacon_key(home: NodeHome) -> bytes | None:
    """The node's BLS key, or None (with a warning) where the home has none."""
    if not home.bls_key.exists():
        log.warning(
            "no BLS key at %s: this node's precommits carry no beacon share, so if its validator is a "
            "committee member they are rejected (create one with `synod init`)",
            home.bls_key,
        )
        return None
    return load_bls_key(home.bls_key)


def _dkg_task(home: NodeHome, handlers: AbciHandlers, rpc_address: str) -> DkgTask | None:
    """The node's DKG task, where the home has a BLS key and a `validator` operator key."""
    if handlers.bls_secret is None:
        return None
    try:
        operator = Keyring(home.root).private_key("validator")
    except KeyringError:
        log.info("no `validator` key in %s: this node takes no part in the beacon's DKG", home.root)
        return None
    return DkgTask(
        handlers, handlers.bls_secret, operator, rpc_address, home.root / "data" / "dkg_shares.json"
    )


class _AppProcess:
    """The app side of a node: database, state machine, snapshots, ABCI server and gRPC server."""

    def __init__(self, home: NodeHome) -> None:
        cfg = load_app_config(home)
        self.grpc_address = cfg.grpc_address
        self.api_address = cfg.api_address
        # The gateway forwards txs to this node's own CometBFT RPC.
        self.rpc_address = read_toml(home.config_toml).get("rpc", {}).get("laddr", "tcp://127.0.0.1:26657")
        self.backend = LevelDBBackend(home.app_db)
        self.app = SynodApp(self.backend)
        self.app.store.set_keep_recent(cfg.state_keep_recent)
        # One worker: snapshots are serialized off the consensus path, one at a time.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot")
        self.snapshots = SnapshotManager(
            home.snapshot_dir,
            self.app.store,
            interval=cfg.snapshot_interval,
            keep_recent=cfg.snapshot_keep_recent,
            executor=self.pool,
            on_restored=self.app.reload,
        )
        self.handlers = AbciHandlers(
            self.app,
            snapshots=self.snapshots,
            bls_secret=_load_beacon_key(home),
            ensemble_dir=home.ensemble_dir,
            retain_blocks=cfg.retain_blocks,
        )
        self.server = AbciServer(self.handlers)
        self.dkg = _dkg_task(home, self.handlers, self.rpc_address)
        self.queries: QueryServer | None = None
        self.rest: RestServer | None = None

    async def start(self, abci_address: str) -> None:
        """Serve ABCI; on failure release everything."""
        try:
            self.handlers.start()
            await self.server.start(abci_address)
        except BaseException:
            await self.stop()
            raise
        height, app_hash = self.app.info()
        log.info("app on %s (committed height %d, app hash %s)", abci_address, height, app_hash.hex())

    async def serve_queries(self) -> None:
        """Serve gRPC queries, unless grpc_address is empty; GrpcBindError if it cannot listen."""
        if not self.grpc_address:
            log.info("gRPC query server off (grpc_address is empty in config/app.toml)")
            return
        self.queries = QueryServer(self.backend)
        await self.queries.start(self.grpc_address)
        log.info("gRPC query server on %s", self.grpc_address)

    async def serve_rest(self) -> None:
        """Serve the REST gateway and /metrics, unless api_address is empty; RestBindError if it
        cannot listen."""
        if not self.api_address:
            log.info("REST gateway and /metrics off (api_address is empty in config/app.toml)")
            return
        self.rest = RestServer(self.backend, CometRPC(self.rpc_address))
        await self.rest.start(self.api_address)
        log.info("REST gateway on http://%s (metrics: http://%s/metrics)", self.api_address, self.api_address)

    async def stop(self) -> None:
        """Stop serving, let snapshot and query workers finish, then close the database."""
        if self.dkg is not None:
            await self.dkg.stop()
        await self.server.stop()
        self.handlers.stop()
        if self.queries is not None:
            await self.queries.stop()
        if self.rest is not None:
            await self.rest.stop()
        self.snapshots.close()  # the worker may still be reading the database
        self.pool.shutdown(wait=True)
        self.backend.close()


async def _start_cometbft(binary: str, home: NodeHome, log_file: IO[bytes]) -> asyncio.subprocess.Process:
    """`cometbft start` on home, dying with this process."""
    proc = await asyncio.create_subprocess_exec(
        binary,
        "start",
        "--home",
        str(home.root),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    log.info("cometbft started (pid %d), log: %s", proc.pid, home.log_dir / "cometbft.log")
    return proc


async def _first_to_finish(waits: dict[asyncio.Future, str]) -> tuple[str, object]:
    """Wait for the first of waits; cancel the rest; return (its name, its result)."""
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    first = next(iter(done))
    for task in pending:
        task.cancel()
    return waits[first], first.result()


async def run_node(home: NodeHome) -> NodeExit:
    """Run app + CometBFT until a signal, a CometBFT exit or an app failure."""
    home.require()
    binary = check_cometbft()
    abci_address = read_toml(home.config_toml).get("proxy_app", "tcp://127.0.0.1:26658")
    node = _AppProcess(home)
    await node.start(abci_address)
    home.log_dir.mkdir(exist_ok=True)
    with (home.log_dir / "cometbft.log").open("ab") as cometbft_log:
        cometbft = await _start_cometbft(binary, home, cometbft_log)
        # Started after the fork: no gRPC thread may run while CometBFT's process is forked.
        try:
            await node.serve_queries()
            await node.serve_rest()
            if node.dkg is not None:
                node.dkg.start()
        except BaseException:
            await _stop_process(cometbft)
            await node.stop()
            raise
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        cause, result = await _first_to_finish(
            {
                asyncio.ensure_future(stop.wait()): "signal",
                asyncio.ensure_future(cometbft.wait()): "cometbft",
                asyncio.ensure_future(node.server.wait_failed()): "app",
            }
        )
        await _stop_process(cometbft)
        await node.stop()
    if cause == "signal":
        return NodeExit(0, f"stopped by signal at height {node.app.store.height}")
    if cause == "cometbft":
        return NodeExit(
            1,
            f"CometBFT exited with code {result}; the app was stopped too. "
            f"See {home.log_dir / 'cometbft.log'}",
        )
    return NodeExit(2, f"the app failed ({result!r}); CometBFT was stopped too")
