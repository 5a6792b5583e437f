"""End to end with four real validators on loopback: `synod localnet` as a user drives it.

One network serves the whole module (each test first brings every node back up). A killed node
catching up, and two of four down (the chain halts, then resumes without a fork), are tried by the
fault campaign's smoke run (tests/e2e/test_faults_smoke.py), with every height's hashes compared. It
listens on a 127.0.X.1-4 block whose ports are free, so it does not collide with a developer's own
localnet on 127.0.0.1-4 or with a second run of this file; if no block is free the fixture fails
saying so.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.client.rpc import CometRPC, NodeUnreachable
from app.node import localnet as net
from app.node import services
from tests.e2e.nodes import synod

pytestmark = pytest.mark.e2e

VALIDATORS = 4
ALL_NODES = tuple(range(VALIDATORS))
_BLOCK_TIMEOUT = 60.0


def _localnet(*args: str, directory: Path) -> subprocess.CompletedProcess:
    """Run `synod localnet ARGS --dir directory`."""
    return synod("localnet", *args, "--dir", str(directory))


class Network:
    """The module's running network: its directory, one RPC client per node, and what `up` printed."""

    def __init__(self, directory: Path, up_output: str) -> None:
        self.directory = directory
        self.up_output = up_output
        self.spec = net.load_spec(directory)
        self.rpc = [CometRPC(net.rpc_address(self.spec, i), timeout=5) for i in range(VALIDATORS)]

    def home(self, index: int) -> str:
        """Node i's home, for `--home`."""
        return str(net.node_home(self.directory, index).root)

    def height(self, index: int) -> int:
        """Node i's latest block height."""
        return int(self.rpc[index].status()["sync_info"]["latest_block_height"])

    def wait_all(self, height: int, nodes: Sequence[int] = ALL_NODES) -> None:
        """Block until each of nodes answers and has committed height."""
        deadline = time.monotonic() + _BLOCK_TIMEOUT
        for index in nodes:
            while True:
                try:
                    self.rpc[index].wait_for_height(height, timeout=max(deadline - time.monotonic(), 0))
                    break
                except NodeUnreachable:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.2)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("localnet") / "run"
    base_ip = net.find_free_base_ip(directory, VALIDATORS)
    try:
        up = _localnet("up", "--validators", str(VALIDATORS), "--base-ip", base_ip, directory=directory)
        yield Network(directory, up.stdout)
    finally:
        if net.is_generated(directory):
            services.stop_explorer(directory)
            net.down(directory)


@pytest.fixture
def localnet(network: Network) -> Network:
    """The module's network with every node running and producing blocks."""
    for index in sorted(set(range(VALIDATORS)) - set(net.running_nodes(network.directory))):
        net.start_node(network.directory, index)
    network.wait_all(1)
    network.wait_all(max(network.height(i) for i in range(VALIDATORS)) + 1)
    return network


def _send(network: Network, via: int, address: str, amount: str) -> dict:
    """`synod tx bank send validator ADDRESS AMOUNT` through node `via`; returns the result."""
    out = synod(
        "tx", "bank", "send", "validator", address, amount, "--yes", "--home", network.home(via), "-o", "json"
    )
    result = json.loads(out.stdout)
    assert result["code"] == 0, result
    return result


def _balance(network: Network, via: int, address: str) -> str:
    """`synod query bank balances ADDRESS` through node `via`, as `AMOUNTdenom,...`."""
    out = synod("query", "bank", "balances", address, "--home", network.home(via), "-o", "json")
    return ",".join(f"{c['amount']}{c['denom']}" for c in json.loads(out.stdout)["balances"])


def test_transfer_through_node0_is_visible_through_node3(localnet: Network) -> None:
    added = synod("keys", "add", "alice", "--home", localnet.home(3), "-o", "json")
    address = json.loads(added.stdout)["address"]

    result = _send(localnet, 0, address, "12345usyn")

    localnet.wait_all(result["height"], nodes=[3])
    assert _balance(localnet, 3, address) == "12345usyn"
    status = json.loads(_localnet("status", "-o", "json", directory=localnet.directory).stdout)
    assert [n["up"] for n in status["nodes"]] == [True] * VALIDATORS
    powers = {n["voting_power"] for n in status["nodes"]}
    assert len(powers) == 1 and powers.pop() > 0, status


def test_up_serves_the_explorer_page_and_down_stops_it(localnet: Network) -> None:
    url = f"http://{net.node_ip(localnet.spec.base_ip, 0)}:{services.EXPLORER_PORT}/"
    assert f"explorer  {url}" in localnet.up_output, localnet.up_output
    with urllib.request.urlopen(url + "api/snapshot", timeout=10) as response:
        snapshot = json.loads(response.read())
    assert snapshot["height"] > 0 and len(snapshot["chain"]["validators"]) == VALIDATORS, snapshot.keys()
    status = json.loads(_localnet("status", "-o", "json", directory=localnet.directory).stdout)
    assert status["explorer"] == url
    pid = services.running_explorer(localnet.directory)
    assert pid is not None
    down = _localnet("down", directory=localnet.directory)
    assert "explorer" in down.stdout and services.running_explorer(localnet.directory) is None
    assert not Path(f"/proc/{pid}").exists() or b"explorer" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "healthz", timeout=5)
