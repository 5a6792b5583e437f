"""End to end with the real CometBFT binary, real LevelDB and the real CLI: one validator."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.nodes import SynodNode

pytestmark = pytest.mark.e2e


@pytest.fixture
def node(tmp_path):
    n = SynodNode(tmp_path / "node")
    n.start()
    yield n
    n.stop()


def _balance(node: SynodNode, address: str) -> str:
    out = node.cli("query", "bank", "balances", address, "--output", "json")
    coins = json.loads(out.stdout)["balances"]
    return ",".join(f"{c['amount']}{c['denom']}" for c in coins)


def test_send_query_and_survive_kill9(node: SynodNode) -> None:
    node.wait_height(2)
    recipient = node.cli("keys", "add", "alice", "--output", "json")
    address = json.loads(recipient.stdout)["address"]

    sent = node.cli("tx", "bank", "send", "validator", address, "12345usyn", "--yes", "--output", "json")
    result = json.loads(sent.stdout)
    assert result["code"] == 0, result
    assert result["height"] > 0 and result["gas_used"] > 0
    assert _balance(node, address) == "12345usyn"
    shown = json.loads(node.cli("query", "tx", result["txhash"], "--output", "json").stdout)
    assert shown["height"] == result["height"]
    assert any(e["type"] == "transfer" and e["attributes"]["recipient"] == address for e in shown["events"])

    # kill -9 mid-run: CometBFT dies with the supervisor, nothing committed is lost.
    before = node.height()
    assert node.cometbft_pids()
    node.kill9()
    deadline = time.monotonic() + 10
    while node.cometbft_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert node.cometbft_pids() == [], "CometBFT outlived its supervisor"

    node.start()
    node.wait_height(before + 2)
    assert _balance(node, address) == "12345usyn"
    # The validator's sequence continued: a second transfer is accepted and lands.
    again = json.loads(
        node.cli("tx", "bank", "send", "validator", address, "5usyn", "--yes", "--output", "json").stdout
    )
    assert again["code"] == 0 and again["height"] > before
    assert _balance(node, address) == "12350usyn"


def test_cli_rejections_are_clear(node: SynodNode) -> None:
    node.wait_height(1)
    bad_fee = node.cli(
        "tx",
        "bank",
        "send",
        "validator",
        node.cli("keys", "show", "validator", "--address").stdout.strip(),
        "1usyn",
        "--yes",
        "--fees",
        "1usyn",
        check=False,
    )
    assert bad_fee.returncode == 1
    assert "code 13" in bad_fee.stderr and "raise --fees" in bad_fee.stderr
    bad_address = node.cli("query", "bank", "balances", "synod1notanaddress", check=False)
    assert bad_address.returncode != 0 and "bech32" in bad_address.stderr
    missing_key = node.cli("tx", "bank", "send", "nobody", "synod1x", "1usyn", "--yes", check=False)
    assert missing_key.returncode != 0


def test_sigterm_stops_both(node: SynodNode) -> None:
    node.wait_height(2)
    assert node.stop() == 0
    assert node.cometbft_pids() == []


def test_staking_delegate_and_undelegate_through_the_cli(node: SynodNode) -> None:
    def comet_power() -> int:
        (validator,) = node.rpc.validators()
        return int(validator["voting_power"])

    def wait_power(power: int, blocks: int = 4) -> None:
        """Validator updates take effect two blocks after the tx's block; allow a few more."""
        deadline = node.height() + blocks
        while comet_power() != power:
            assert node.height() <= deadline, f"CometBFT power is {comet_power()}, expected {power}"
            time.sleep(0.1)

    node.wait_height(1)
    listed = json.loads(node.cli("query", "staking", "validators", "--output", "json").stdout)
    (genesis,) = listed["validators"]
    operator = node.cli("keys", "show", "validator", "--address").stdout.strip()
    assert genesis["operator_address"] == operator
    assert genesis["power"] == 1_000_000 and genesis["jailed"] is False and genesis["tombstoned"] is False
    assert comet_power() == 1_000_000

    delegator = json.loads(node.cli("keys", "add", "delegator", "--output", "json").stdout)["address"]
    node.cli("tx", "bank", "send", "validator", delegator, "10000000usyn", "--yes", "--output", "json")
    delegated = node.cli(
        "tx",
        "staking",
        "delegate",
        "--from",
        "delegator",
        operator,
        "2000000usyn",
        "--yes",
        "--output",
        "json",
    )
    assert json.loads(delegated.stdout)["code"] == 0
    wait_power(1_000_002)
    shown = json.loads(node.cli("query", "staking", "delegations", delegator, "--output", "json").stdout)
    assert [(d["validator_address"], d["balance"]) for d in shown["delegations"]] == [(operator, "2000000")]

    undelegated = node.cli(
        "tx",
        "staking",
        "undelegate",
        "--from",
        "delegator",
        operator,
        "1000000usyn",
        "--yes",
        "--output",
        "json",
    )
    result = json.loads(undelegated.stdout)
    assert result["code"] == 0
    entries = json.loads(node.cli("query", "staking", "unbonding", "--output", "json").stdout)["entries"]
    assert [(e["delegator_address"], e["validator_address"], e["balance"]) for e in entries] == [
        (delegator, operator, "1000000")
    ]
    assert int(entries[0]["creation_height"]) == result["height"]
    wait_power(1_000_001)
    assert "1000001" in node.cli("query", "staking", "validators").stdout
