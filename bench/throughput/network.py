"""The two 4-validator networks: ours (`synod start` per node) and kvstore (abci-cli + cometbft).

Both come from one `generate`d localnet: its directory is copied (before any node starts) for the
kvstore network, so config.toml, node keys, peers, IPs and ports are identical. Only genesis
differs: ours funds the bench senders in app_state; kvstore's lists the validators itself (kvstore
returns none from InitChain).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from app.client.rpc import CometRPC, RpcError
from app.node import localnet as net
from app.node.config import DEFAULT_DENOM
from app.node.toolchain import check_cometbft, find_binary

__all__ = ["VALIDATORS", "prepare", "OursNet", "KvNet", "proc_cpu_seconds"]

VALIDATORS = 4
SENDER_FUNDS = 10_000_000
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_START_TIMEOUT = 120.0


def _genesis_path(directory: Path, index: int) -> Path:
    return net.node_home(directory, index).genesis


def prepare(
    root: Path, base_ip: str, sender_addresses: list[str]
) -> tuple[net.LocalnetSpec, Path, list[str]]:
    """Generate ours in root/ours, copy it to root/kvstore; fix both genesis files.

    Returns (our spec, kvstore directory, every address in our genesis balances).
    """
    spec = net.generate(net.LocalnetSpec(validators=VALIDATORS, directory=root / "ours", base_ip=base_ip))
    kv_dir = root / "kvstore"
    shutil.copytree(spec.directory, kv_dir)
    # Ours: add the senders' balances to app_state, one file copied to all nodes.
    doc = json.loads(_genesis_path(spec.directory, 0).read_text())
    balances = doc["app_state"]["bank"]["balances"]
    have = {b["address"] for b in balances}
    balances.extend(
        {"address": a, "coins": [{"denom": DEFAULT_DENOM, "amount": str(SENDER_FUNDS)}]}
        for a in sender_addresses
        if a not in have
    )
    text = json.dumps(doc, indent=1) + "\n"
    for i in range(VALIDATORS):
        _genesis_path(spec.directory, i).write_text(text)
    # kvstore: no app_state; the validators listed in genesis (equal power).
    kv_doc = json.loads(_genesis_path(kv_dir, 0).read_text())
    kv_doc["app_state"] = {}
    kv_doc["validators"] = []
    for i in range(VALIDATORS):
        key = json.loads((net.node_home(kv_dir, i).root / "config" / "priv_validator_key.json").read_text())
        kv_doc["validators"].append(
            {"address": key["address"], "pub_key": key["pub_key"], "power": "10", "name": f"node{i}"}
        )
    kv_text = json.dumps(kv_doc, indent=1) + "\n"
    for i in range(VALIDATORS):
        _genesis_path(kv_dir, i).write_text(kv_text)
        shutil.rmtree(net.node_home(kv_dir, i).root / "data" / "app", ignore_errors=True)
    return spec, kv_dir, [b["address"] for b in balances]


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one live process (all its threads), 0 if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _group_pids(pgid: int) -> list[int]:
    """Every live process in process group pgid."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


class _Net:
    """Common part: RPC clients, waiting for blocks, CPU accounting."""

    name = ""

    def __init__(self, spec: net.LocalnetSpec) -> None:
        self.spec = spec
        self.rpc = [CometRPC(net.rpc_address(spec, i), timeout=5) for i in range(VALIDATORS)]
        self.hosts = [(net.node_ip(spec.base_ip, i), net.RPC_PORT) for i in range(VALIDATORS)]

    def pids(self) -> list[int]:
        raise NotImplementedError

    def cpu_seconds(self) -> dict[str, float]:
        """utime+stime summed over the node processes: {"cometbft": s, "app": s} (app: the rest)."""
        out = {"cometbft": 0.0, "app": 0.0}
        for p in self.pids():
            try:
                comm = Path(f"/proc/{p}/comm").read_text().strip()
            except OSError:
                continue
            out["cometbft" if comm == "cometbft" else "app"] += proc_cpu_seconds(p)
        return out

    def height(self, index: int = 0) -> int:
        return int(self.rpc[index].status()["sync_info"]["latest_block_height"])

    def wait_ready(self, min_height: int = 3) -> None:
        """Every node answers and has committed min_height."""
        deadline = time.monotonic() + _START_TIMEOUT
        for index in range(VALIDATORS):
            while True:
                try:
                    if self.height(index) >= min_height:
                        break
                except RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.name} node{index} not at height {min_height} after {_START_TIMEOUT}s"
                    )
                self.check_alive()
                time.sleep(0.3)

    def check_alive(self) -> None:
        pass


class OursNet(_Net):
    """The Synod localnet, started and stopped through app.node.localnet."""

    name = "ours"

    def start(self) -> None:
        for i in range(VALIDATORS):
            net.start_node(self.spec.directory, i)

    def pids(self) -> list[int]:
        out = []
        for pid in net.running_nodes(self.spec.directory).values():
            out.extend(_group_pids(pid))
        return out

    def check_alive(self) -> None:
        if len(net.running_nodes(self.spec.directory)) < VALIDATORS:
            raise RuntimeError(f"a Synod node exited: see {self.spec.directory}/node*/synod.log")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            net.down(self.spec.directory)


class KvNet(_Net):
    """CometBFT + `abci-cli kvstore` per node, each in its own session; we keep the Popen objects."""

    name = "kvstore"

    def __init__(self, spec: net.LocalnetSpec) -> None:
        super().__init__(spec)
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        cometbft, abci_cli = check_cometbft(), find_binary("abci-cli")
        for i in range(VALIDATORS):
            home = net.node_home(self.spec.directory, i).root
            ip = net.node_ip(self.spec.base_ip, i)
            (home / "kvdata").mkdir(exist_ok=True)
            log = (home / "kvstore.log").open("ab")
            self.procs.append(
                subprocess.Popen(
                    [
                        abci_cli,
                        "kvstore",
                        "--address",
                        f"tcp://{ip}:{net.ABCI_PORT}",
                        "--persist",
                        str(home / "kvdata"),
                        "--log_level",
                        "error",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        time.sleep(0.5)
        for i in range(VALIDATORS):
            home = net.node_home(self.spec.directory, i).root
            (home / "log").mkdir(exist_ok=True)
            log = (home / "log" / "cometbft.log").open("ab")
            self.procs.append(
                subprocess.Popen(
                    [cometbft, "start", "--home", str(home)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def check_alive(self) -> None:
        dead = [p.args[1] for p in self.procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"kvstore network process exited: {dead}; see {self.spec.directory}/node*/")

    def stop(self) -> None:
        # CometBFT first (it would otherwise log the app going away), then the apps.
        for group in (self.procs[VALIDATORS:], self.procs[:VALIDATORS]):
            for p in group:
                if p.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGTERM)
            for p in group:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
                    p.wait(timeout=5)


def kv_spec(spec: net.LocalnetSpec, directory: Path) -> net.LocalnetSpec:
    """The kvstore network's spec: ours, in another directory."""
    return net.LocalnetSpec(
        validators=spec.validators,
        directory=directory,
        chain_id=spec.chain_id,
        timeout_commit=spec.timeout_commit,
        base_ip=spec.base_ip,
    )


def decode_block_txs(block: dict) -> list[bytes]:
    """The raw txs of an RPC /block answer."""
    return [base64.b64decode(t) for t in (block["block"]["data"]["txs"] or [])]
