"""End to end: a full node joins a running four-validator localnet by state sync.

`synod localnet add-node --state-sync` trusts a recent block of a validator and restores the app
from the validators' latest snapshot (taken every 10 blocks on a localnet) instead of replaying the
chain. The network listens on its own free 127.0.X.1-5 block and is always brought down.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from app.client.rpc import CometRPC, RpcError
from app.node import localnet as net
from tests.e2e.nodes import synod

pytestmark = pytest.mark.e2e

VALIDATORS = 4
NEW = VALIDATORS  # the added full node's index
_SNAPSHOT_HEIGHT = 25  # past the snapshots at 10 and 20
_TIMEOUT = 60.0


def _localnet(*args: str, directory: Path) -> str:
    """Run `synod localnet ARGS --dir directory`; its stdout."""
    return synod("localnet", *args, "--dir", str(directory)).stdout


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("statesync") / "run"
    base_ip = net.find_free_base_ip(directory, VALIDATORS + 1, salt=13)
    try:
        _localnet("up", "--validators", str(VALIDATORS), "--base-ip", base_ip, directory=directory)
        yield directory
    finally:
        if net.is_generated(directory):
            net.down(directory)


def _rpc(directory: Path, index: int) -> CometRPC:
    return CometRPC(net.rpc_address(net.load_spec(directory), index), timeout=5)


def _height(rpc: CometRPC) -> int:
    return int(rpc.status()["sync_info"]["latest_block_height"])


def _send(directory: Path, via: int, address: str, amount: str) -> dict:
    """`synod tx bank send validator ADDRESS AMOUNT` from node `via`'s key, through that node."""
    home = str(net.node_home(directory, via).root)
    out = synod("tx", "bank", "send", "validator", address, amount, "--yes", "--home", home, "-o", "json")
    result = json.loads(out.stdout)
    assert result["code"] == 0, result
    return result


def _balance(rpc: CometRPC, address: str) -> str:
    """`synod query bank balances ADDRESS --node <rpc>`, as `AMOUNTdenom,...`."""
    out = synod("query", "bank", "balances", address, "--node", rpc.url, "-o", "json")
    return ",".join(f"{c['amount']}{c['denom']}" for c in json.loads(out.stdout)["balances"])


def _new_address(directory: Path, name: str) -> str:
    home = str(net.node_home(directory, 0).root)
    return json.loads(synod("keys", "add", name, "--home", home, "-o", "json").stdout)["address"]


def test_full_node_state_syncs_from_a_snapshot_and_follows_the_chain(directory: Path) -> None:
    node0 = _rpc(directory, 0)
    # Non-trivial state: new accounts funded from three validators.
    alice, bob = _new_address(directory, "alice"), _new_address(directory, "bob")
    for via, (address, amount) in enumerate([(alice, "1000usyn"), (bob, "2500usyn"), (alice, "11usyn")]):
        _send(directory, via, address, amount)

    node0.wait_for_height(_SNAPSHOT_HEIGHT, timeout=_TIMEOUT)
    snapshots = net.node_home(directory, 0).snapshot_dir
    deadline = time.monotonic() + 10
    while not any(p.name[0].isdigit() for p in snapshots.glob("*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any(p.name[0].isdigit() for p in snapshots.glob("*")), f"no snapshot in {snapshots}"

    out = _localnet("add-node", "--state-sync", "--wait", str(_TIMEOUT), directory=directory)
    assert f"node{NEW} started" in out, out
    new = _rpc(directory, NEW)

    # It restored the app from a snapshot: CometBFT says so, and its block store starts above 1.
    log = net.log_path(directory, NEW, cometbft=True).read_text(errors="replace")
    assert "Applied snapshot chunk" in log and "Snapshot restored" in log, log[-3000:]
    status = new.status()
    earliest = int(status["sync_info"]["earliest_block_height"])
    assert earliest > 1, status["sync_info"]
    with pytest.raises(RpcError):
        new.block(1)

    # It follows the head, and agrees with node0 on every block it holds.
    assert not status["sync_info"]["catching_up"]
    new.wait_for_height(_height(node0) - 2, timeout=10)
    top = min(_height(node0), _height(new))
    for h in range(earliest, top + 1):
        ours, theirs = node0.block(h), new.block(h)
        assert ours["block_id"]["hash"] == theirs["block_id"]["hash"], f"block hash differs at {h}"
        assert ours["block"]["header"]["app_hash"] == theirs["block"]["header"]["app_hash"], h
    assert top - earliest >= 2, (earliest, top)

    # State from before the snapshot, and a transfer after the sync, read through the new node.
    assert _balance(new, bob) == "2500usyn"
    carol = _new_address(directory, "carol")
    sent = _send(directory, 0, carol, "4242usyn")
    new.wait_for_height(sent["height"], timeout=_TIMEOUT)
    assert _balance(new, carol) == "4242usyn"
    assert _balance(new, alice) == "1011usyn"

    # The localnet treats it as one of its nodes: a full node with no voting power.
    nodes = json.loads(_localnet("status", "-o", "json", directory=directory))["nodes"]
    assert len(nodes) == VALIDATORS + 1
    assert nodes[NEW]["up"] and nodes[NEW]["role"] == "full" and nodes[NEW]["voting_power"] == 0, nodes
    assert all(n["voting_power"] > 0 for n in nodes[:VALIDATORS]), nodes
