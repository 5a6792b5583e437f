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
