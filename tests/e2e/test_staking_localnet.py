"""Staking and slashing end to end on a real four-validator `synod localnet`.

Genesis bonds each validator with 10^12 usyn (power 1,000,000); the localnet's fast parameters make
unbonding take 20 s of block time and jail a validator that missed more than half of a 20-block
window for 5 s (1% burnt), while double signing burns 5% and tombstones. The tests share one
network and run in file order (delegation, then downtime of node3, then a double-signing twin of
node2, which is tombstoned for good and so must come last); each also holds on its own.

Voting-power changes are read from CometBFT's own `/validators`: updates returned by FinalizeBlock
at height H take effect at H+2, so the set at H+1 must still be the old one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.node import localnet as net
from app.node.config import set_toml
from tests.e2e.localnet_helpers import Localnet, running_localnet, wait_until

pytestmark = pytest.mark.e2e

VALIDATORS = 4
SELF_BOND = 10**12
POWER = 1_000_000  # SELF_BOND / power_reduction (10^6)
UNBONDING_SECONDS = 20
DOWNTIME_BURN = SELF_BOND // 100  # 1% at power 1,000,000
DOUBLE_SIGN_BURN = SELF_BOND * 5 // 100  # 5%


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("staking-localnet") / "run"
    # One address more than the validators: the double-signing twin listens on base_ip + 4.
    with running_localnet(directory, VALIDATORS, salt=37, spare_addresses=1) as localnet:
        yield localnet


@pytest.fixture
def localnet(network: Localnet) -> Localnet:
    """The module's network with every node running and producing blocks."""
    network.ensure_all_running()
    return network


def _power_changes_at(localnet: Localnet, height: int, consensus: str, before: int | None, after: int | None):
    """Assert the validator set of block height+1 still has `before` and that of height+2 has `after`.

    None means "not in the set". Waits until height+2 is committed, so both sets are final.
    """
    localnet.wait_all(height + 2, nodes=[0])
    assert localnet.powers(height + 1).get(consensus) == before, f"power changed before H+2 (H={height})"
    assert localnet.powers(height + 2).get(consensus) == after, f"power not updated at H+2 (H={height})"


def test_delegation_and_undelegation_move_cometbft_power_two_blocks_later(localnet: Localnet) -> None:
    delegator = localnet.operator(0)
    operator1, consensus1 = localnet.operator(1), localnet.consensus_address(1)
    assert localnet.powers()[consensus1] == POWER
    assert localnet.validator(operator1)["tokens"] == str(SELF_BOND)

    # Delegate 5 power's worth from node0's operator account to node1's validator.
    delegated = localnet.tx("staking", "delegate", "--from", "validator", operator1, "5000000usyn", via=0)
    _power_changes_at(localnet, delegated["height"], consensus1, POWER, POWER + 5)
    v = localnet.validator(operator1)
    assert (v["tokens"], v["power"]) == (str(SELF_BOND + 5_000_000), POWER + 5)
    mine = localnet.query("staking", "delegations", delegator)["delegations"]
    assert [(d["validator_address"], d["balance"]) for d in mine if d["validator_address"] == operator1] == [
        (operator1, "5000000")
    ]

    # Undelegate 3 of them: power drops at once (two blocks later), the tokens come back later. The
    # unbonding entry is read first: it is gone once UNBONDING_SECONDS of block time pass, which a
    # loaded machine can spend on the checks below.
    undelegated = localnet.tx("staking", "undelegate", "--from", "validator", operator1, "3000000usyn", via=0)
    height = undelegated["height"]
    entries = [
        e
        for e in localnet.query("staking", "unbonding")["entries"]
        if e["delegator_address"] == delegator and e["validator_address"] == operator1
    ]
    balance_after_tx = localnet.balance(delegator)  # the fee is already paid
    assert len(entries) == 1, entries
    entry = entries[0]
    assert (entry["balance"], entry["initial_balance"], int(entry["creation_height"])) == (
        "3000000",
        "3000000",
        height,
    )
    completion = int(entry["completion_time"])
    assert completion == int(localnet.header_time(height)) + UNBONDING_SECONDS
    _power_changes_at(localnet, height, consensus1, POWER + 5, POWER + 2)
    assert localnet.validator(operator1)["tokens"] == str(SELF_BOND + 2_000_000)
    if localnet.block_time() < completion:  # not yet due: the tokens must still be bonded
        assert localnet.balance(delegator) == balance_after_tx

    # The tokens return once block time passes completion_time (UNBONDING_SECONDS after the undelegation).
    returned = wait_until(
        "the unbonded tokens to return",
        lambda: (b := localnet.balance(delegator)) != balance_after_tx and b,
        timeout=UNBONDING_SECONDS + 40,
        poll=0.5,
    )
    assert returned == balance_after_tx + 3_000_000
    assert localnet.block_time() >= completion
    assert not [e for e in localnet.query("staking", "unbonding")["entries"] if e["id"] == entry["id"]]
    assert localnet.powers()[consensus1] == POWER + 2


def test_downtime_jails_slashes_one_percent_and_unjail_restores_power(localnet: Localnet) -> None:
    operator3, consensus3 = localnet.operator(3), localnet.consensus_address(3)
    before = localnet.validator(operator3)
    assert (before["jailed"], before["tombstoned"], before["tokens"]) == (False, False, str(SELF_BOND))
    assert localnet.powers()[consensus3] == POWER
    supply_before = localnet.supply()

    net.stop_node(localnet.directory, 3)
    stopped_at = localnet.height(0)
    # Three of four validators keep committing; after > 10 misses in the 20-block window node3 is jailed.
    jailed = wait_until(
        "node3's validator to be jailed for downtime",
        lambda: (v := localnet.validator(operator3))["jailed"] and v,
        timeout=90,
        poll=0.5,
    )
    assert jailed["tombstoned"] is False
    assert jailed["tokens"] == str(SELF_BOND - DOWNTIME_BURN), "downtime must burn exactly 1%"
    assert localnet.supply() == supply_before - DOWNTIME_BURN
    jailed_until = int(jailed["jailed_until"])

    info = [
        i for i in localnet.query("slashing", "signing-infos")["infos"] if i["operator_address"] == operator3
    ]
    assert len(info) == 1, info
    assert info[0]["consensus_address"].upper() == consensus3
    assert int(info[0]["jailed_until"]) == jailed_until
    assert info[0]["tombstoned"] is False

    # The slash event of the jailing block, and node3 leaving CometBFT's set two blocks later.
    top = localnet.height(0)
    slashes = [
        (h, e["attributes"])
        for h in range(stopped_at, top + 1)
        for e in localnet.block_events(h)
        if e["type"] == "slash" and e["attributes"].get("validator") == operator3
    ]
    assert len(slashes) == 1, slashes
    jail_height, attributes = slashes[0]
    assert attributes["reason"] == "missing_signature"
    assert attributes["burned"] == str(DOWNTIME_BURN)
    assert int(attributes["jailed_until"]) == jailed_until
    localnet.wait_all(jail_height + 2, nodes=[0])
    assert consensus3 in localnet.powers(jail_height + 1)
    assert consensus3 not in localnet.powers(jail_height + 2)
    assert localnet.validator(operator3)["power"] == 0

    # Back up, caught up, and past the jail period in block time: unjail with node3's own key.
    net.start_node(localnet.directory, 3)
    localnet.wait_all(localnet.height(0) + 1)
    # node3's CheckTx judges the jail by node3's own last committed block, so wait on node3's clock.
    wait_until(
        "node3's block time to pass jailed_until", lambda: localnet.block_time(3) > jailed_until, timeout=60
    )
    unjailed = localnet.tx("staking", "unjail", "--from", "validator", via=3)
    _power_changes_at(localnet, unjailed["height"], consensus3, None, POWER - POWER // 100)
    after = localnet.validator(operator3)
    assert (after["jailed"], after["power"]) == (False, POWER - POWER // 100)


def test_double_signing_twin_gets_the_validator_slashed_and_tombstoned(
    localnet: Localnet, tmp_path: Path
) -> None:
    operator2, consensus2 = localnet.operator(2), localnet.consensus_address(2)
    before = localnet.validator(operator2)
    assert (before["jailed"], before["tombstoned"], before["tokens"]) == (False, False, str(SELF_BOND))
    assert localnet.powers()[consensus2] == POWER

    # node2's home (keys and config) without its block stores and app db, on its own address, with a
    # fresh node key (p2p would refuse a second node2 id) and a signing state at height 0: once caught
    # up it signs whatever it sees while node2 signs too, so sooner or later they sign different blocks.
    twin = localnet.directory / "node2-twin"
    shutil.copytree(
        localnet.home(2), twin, ignore=shutil.ignore_patterns("data", "log", "synod.log", "*.pid")
    )
    (twin / "data").mkdir()
    (twin / "data" / "priv_validator_state.json").write_text(
        json.dumps({"height": "0", "round": 0, "step": 0}) + "\n"
    )
    (twin / "config" / "node_key.json").unlink()
    ip = net.node_ip(localnet.spec.base_ip, VALIDATORS)
    set_toml(
        twin / "config" / "config.toml",
        {
            ("", "moniker"): '"node2-twin"',
            ("", "proxy_app"): f'"tcp://{ip}:{net.ABCI_PORT}"',
            ("rpc", "laddr"): f'"tcp://{ip}:{net.RPC_PORT}"',
            ("p2p", "laddr"): f'"tcp://{ip}:{net.P2P_PORT}"',
            ("instrumentation", "prometheus_listen_addr"): f'"{ip}:{net.PROMETHEUS_PORT}"',
        },
    )
    set_toml(
        twin / "config" / "app.toml",
        {("", "grpc_address"): f'"{ip}:{net.GRPC_PORT}"', ("", "api_address"): f'"{ip}:{net.API_PORT}"'},
    )

    proc = localnet.start_extra_node(twin)
    try:

        def tombstoned() -> dict | None:
            if proc.poll() is not None:
                tail = (twin / "synod.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"the twin exited with {proc.returncode}:\n{tail}")
            v = localnet.validator(operator2)
            return v if v["tombstoned"] else None

        try:
            slashed = wait_until(
                "node2 to be tombstoned for double signing", tombstoned, timeout=90, poll=0.5
            )
        except pytest.fail.Exception as e:
            homes = [Path(localnet.home(i)) for i in range(VALIDATORS)] + [twin]
            raise AssertionError(f"{e}\nCometBFT logs:\n{localnet.grep_logs('evidence', homes)}") from None
    finally:
        localnet.stop_extra_node(proc)

    assert slashed["jailed"] is True
    assert slashed["tokens"] == str(SELF_BOND - DOUBLE_SIGN_BURN), "double signing must burn exactly 5%"
    evidence = [
        e for e in localnet.query("slashing", "evidence")["evidence"] if e["operator_address"] == operator2
    ]
    assert len(evidence) == 1, evidence
    record = evidence[0]
    assert record["kind"] == "DUPLICATE_VOTE"
    assert record["consensus_address"].upper() == consensus2
    assert (int(record["power"]), record["slashed"]) == (POWER, str(DOUBLE_SIGN_BURN))
    info = [
        i for i in localnet.query("slashing", "signing-infos")["infos"] if i["operator_address"] == operator2
    ]
    assert len(info) == 1 and info[0]["tombstoned"] is True, info

    # Gone from CometBFT's set (two blocks after the evidence block), and no way back.
    localnet.wait_all(localnet.height(0) + 2, nodes=[0])
    assert consensus2 not in localnet.powers()
    assert localnet.validator(operator2)["power"] == 0
    refused = localnet.tx("staking", "unjail", "--from", "validator", via=2, check=False)
    assert refused["returncode"] != 0 and "tombstone" in (refused["stdout"] + refused["stderr"]).lower(), (
        refused
    )
