"""Shared pieces for end-to-end tests on a real `synod localnet`: placement, clients, CLI and queries.

Everything here is read-only towards the network except `start_extra_node`/`stop_extra_node`, which
run one extra `synod start` home that the caller made (and stop only the process they started).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from app.client.keyring import Keyring
from app.client.rpc import CometRPC, NodeUnreachable, RpcError
from app.client.tasks import TasksClient
from app.core.fixedpoint import WEIGHT_FORMAT
from app.node import localnet as net
from app.node.toolchain import find_binary
from bench.faults import workload
from synod.tasks.v1 import tasks_pb2
from tests.e2e.nodes import synod

__all__ = [
    "BLOCK_TIMEOUT",
    "Agents",
    "Localnet",
    "checkpoint_accuracy",
    "running_localnet",
    "synod_json",
    "wait_until",
]

BLOCK_TIMEOUT = 60.0
T = TypeVar("T")


def synod_json(*args: str, check: bool = True) -> dict:
    """Run `synod ARGS -o json` and parse its output."""
    out = synod(*args, "-o", "json", check=check)
    return json.loads(out.stdout)


def wait_until(what: str, probe: Callable[[], T | None], timeout: float, poll: float = 0.2) -> T:
    """Call probe until it returns something truthy (RPC errors count as "not yet"); fail after timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = probe()
            if result:
                return result
            last = result
        except RpcError as e:  # a node restarting or catching up
            last = e
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
        time.sleep(poll)


def checkpoint_accuracy(client: TasksClient, task: tasks_pb2.Task, round_: int) -> float:
    """Test accuracy of a task's checkpoint on its hashed evaluation data (JAX loads on first call)."""
    from app.agents.evaluation import task_eval_data
    from app.ml.quantize import WEIGHT_SPEC, dequantize
    from app.ml.train import evaluate

    _, weights = client.model(task.id, round_)
    data = task_eval_data(task)
    flat = dequantize(WEIGHT_FORMAT.decode(weights, len(weights) // WEIGHT_FORMAT.width), WEIGHT_SPEC)
    return evaluate(task.model.arch, np.asarray(flat), data.x, data.y, task.model.input_shape)[0]


def _parse_block_time(text: str) -> float:
    """CometBFT's RFC 3339 time with nanoseconds, as Unix seconds."""
    whole, _, frac = text.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp()
    return seconds + (float("0." + frac) if frac else 0.0)


class Localnet:
    """A generated localnet: its directory, one RPC client per node, and per-node identities."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.spec = net.load_spec(directory)
        self.size = self.spec.validators
        self.rpc = [CometRPC(net.rpc_address(self.spec, i), timeout=5) for i in range(self.size)]

    # --- identities ----------------------------------------------------------------------------

    def home(self, index: int) -> str:
        """Node i's home, for `--home`."""
        return str(net.node_home(self.directory, index).root)

    def operator(self, index: int) -> str:
        """Node i's validator operator address (its `validator` account key)."""
        return Keyring(self.home(index)).get("validator").address

    def consensus_address(self, index: int) -> str:
        """Node i's CometBFT validator address (upper-case hex)."""
        path = Path(self.home(index)) / "config" / "priv_validator_key.json"
        return json.loads(path.read_text())["address"].upper()

    # --- chain progress ------------------------------------------------------------------------

    def height(self, index: int = 0) -> int:
        """Node i's latest block height."""
        return int(self.rpc[index].status()["sync_info"]["latest_block_height"])

    def block_time(self, index: int = 0) -> float:
        """Node i's latest block time (Unix seconds)."""
        return _parse_block_time(self.rpc[index].status()["sync_info"]["latest_block_time"])

    def header_time(self, height: int, index: int = 0) -> float:
        """Block `height`'s header time (Unix seconds) as node i stores it."""
        return _parse_block_time(self.rpc[index].block(height)["block"]["header"]["time"])

    def wait_all(
        self, height: int, nodes: Sequence[int] | None = None, timeout: float = BLOCK_TIMEOUT
    ) -> None:
        """Block until each of nodes (default: all) answers and has committed height."""
        deadline = time.monotonic() + timeout
        for index in range(self.size) if nodes is None else nodes:
            while True:
                try:
                    self.rpc[index].wait_for_height(height, timeout=max(deadline - time.monotonic(), 0))
                    break
                except NodeUnreachable:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.2)

    def ensure_all_running(self) -> None:
        """Start every node that is not running, then wait for a common new block."""
        for index in sorted(set(range(self.size)) - set(net.running_nodes(self.directory))):
            net.start_node(self.directory, index)
        self.wait_all(1)
        self.wait_all(max(self.height(i) for i in range(self.size)) + 1)

    # --- CometBFT views ------------------------------------------------------------------------

    def powers(self, height: int | None = None, via: int = 0) -> dict[str, int]:
        """{consensus address: voting power} of CometBFT's validator set at height (latest if None)."""
        return {v["address"].upper(): int(v["voting_power"]) for v in self.rpc[via].validators(height=height)}

    def block_events(self, height: int, via: int = 0) -> list[dict[str, Any]]:
        """FinalizeBlock events of block `height` as [{"type", "attributes": {key: value}}]."""
        result = self.rpc[via].block_results(height)
        return [
            {"type": e["type"], "attributes": {a["key"]: a.get("value", "") for a in e.get("attributes", [])}}
            for e in result.get("finalize_block_events") or []
        ]

    # --- app queries through the CLI ------------------------------------------------------------

    def query(self, *args: str, via: int = 0) -> dict:
        """`synod query ARGS --home node{via} -o json`."""
        return synod_json("query", *args, "--home", self.home(via))

    def signing_info(self, operator: str, via: int = 0) -> list[dict]:
        """The `synod query slashing signing-infos` entries of one operator."""
        infos = self.query("slashing", "signing-infos", via=via)["infos"]
        return [i for i in infos if i["operator_address"] == operator]

    def validator(self, operator: str, via: int = 0) -> dict:
        """`synod query staking validator OPERATOR` as JSON."""
        return self.query("staking", "validator", operator, via=via)

    def balance(self, address: str, denom: str = "usyn", via: int = 0) -> int:
        """The address's balance of denom."""
        coins = self.query("bank", "balances", address, via=via)["balances"]
        return sum(int(c["amount"]) for c in coins if c["denom"] == denom)

    def supply(self, denom: str = "usyn", via: int = 0) -> int:
        """Total supply of denom."""
        return sum(
            int(c["amount"]) for c in self.query("bank", "supply", via=via)["supply"] if c["denom"] == denom
        )

    def tx(self, *args: str, via: int, check: bool = True) -> dict:
        """`synod tx ARGS --yes --home node{via} -o json` (waits for inclusion); asserts code 0 if check."""
        out = synod("tx", *args, "--yes", "--home", self.home(via), "-o", "json", check=check)
        if not check:
            return {"returncode": out.returncode, "stdout": out.stdout, "stderr": out.stderr}
        result = json.loads(out.stdout)
        assert result["code"] == 0, result
        return result

    # --- an extra node (a copy of a validator home) ---------------------------------------------

    @staticmethod
    def start_extra_node(home: Path) -> subprocess.Popen:
        """`synod start --home HOME` in its own session, output in HOME/synod.log."""
        log = (home / "synod.log").open("ab")
        try:
            return subprocess.Popen(
                [find_binary("synod"), "start", "--home", str(home)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=home,
            )
        finally:
            log.close()

    @staticmethod
    def stop_extra_node(proc: subprocess.Popen) -> None:
        """SIGTERM the process group we started (supervisor + its CometBFT); SIGKILL it after 30 s."""
        if proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def grep_logs(self, needle: str, homes: Sequence[Path], limit: int = 15) -> str:
        """The last `limit` lines containing needle (case-insensitive) of each home's CometBFT log."""
        chunks = []
        for home in homes:
            path = home / "log" / "cometbft.log"
            if not path.exists():
                chunks.append(f"--- {path}: missing")
                continue
            hits = [
                ln for ln in path.read_text(errors="replace").splitlines() if needle.lower() in ln.lower()
            ]
            chunks.append(f"--- {path}: {len(hits)} lines with {needle!r}\n" + "\n".join(hits[-limit:]))
        return "\n".join(chunks)


@contextmanager
def running_localnet(
    directory: Path, validators: int, *, salt: int, spare_addresses: int = 0
) -> Iterator[Localnet]:
    """Generate and start a localnet on a free loopback block (plus spare addresses); always tear it down."""
    base_ip = net.find_free_base_ip(directory, validators + spare_addresses, salt=salt)
    try:
        net.generate(net.LocalnetSpec(validators=validators, directory=directory, base_ip=base_ip))
        for index in range(validators):
            net.start_node(directory, index)
        yield Localnet(directory)
    finally:
        if net.is_generated(directory):
            net.down(directory)


class Agents(workload.Agents):
    """Agent processes (workers, committee members, predictors, sidecars) with their logs; a test
    fails at once, with the log, when one of them fails."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, niceness=0)

    def log(self, name: str) -> str:
        """One agent's stderr so far."""
        return (self.root / f"{name}.log").read_text(errors="replace")

    def check_running(self) -> bool:
        """Fail at once, with its log, if an agent exited with an error."""
        for name, proc in self.procs.items():
            if proc.poll() is not None and proc.returncode != 0:
                pytest.fail(f"{name} exited {proc.returncode}:\n{self.log(name)[-3000:]}")
        return True

    def finish(self, name: str, timeout: float) -> dict:
        """Wait for an agent to exit 0 and return its JSON summary (stdout)."""
        try:
            code = self.procs[name].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} still running after {timeout:.0f} s:\n{self.log(name)[-3000:]}")
        assert code == 0, f"{name} exited {code}:\n{self.log(name)[-3000:]}"
        return json.loads((self.root / f"{name}.out").read_text())
