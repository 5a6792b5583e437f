"""The randomness beacon on a real four-validator localnet: vote extensions on from genesis, every
validator's BLS share in every block, one seed per block that all nodes agree on, and a beacon that
outlives a validator stopped for good (3 of 4 power is still more than 2/3)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence

import pytest

from app.client.rpc import decode_base64
from app.modules.committee import keys as committee_keys
from app.node import localnet as net
from synod.committee.v1 import committee_pb2
from tests.e2e.localnet_helpers import Localnet, running_localnet, wait_until

pytestmark = pytest.mark.e2e

VALIDATORS = 4
SEED_KEY = committee_keys.STORE_PREFIX + committee_keys.SEED


@pytest.fixture(scope="module")
def localnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Localnet]:
    directory = tmp_path_factory.mktemp("beacon") / "run"
    with running_localnet(directory, VALIDATORS, salt=83) as network:
        network.wait_all(2)
        yield network


def _beacon_event(localnet: Localnet, height: int, via: int) -> dict[str, str]:
    """The `beacon` event of block `height`'s first tx, as node `via` recorded it."""
    results = localnet.rpc[via].block_results(height)["txs_results"]
    assert results and results[0]["code"] == 0, results
    events = [e for e in results[0]["events"] if e["type"] == "beacon"]
    assert len(events) == 1, results[0]
    return {a["key"]: a.get("value", "") for a in events[0]["attributes"]}


def _seed(localnet: Localnet, via: int) -> committee_pb2.Seed:
    """Node `via`'s latest seed through the raw /store ABCI query."""
    answer = localnet.rpc[via].abci_query("/store", SEED_KEY)
    assert int(answer.get("code", 0)) == 0 and answer.get("value"), answer
    return committee_pb2.Seed.FromString(decode_base64(answer["value"]))


def _check_blocks(localnet: Localnet, heights: range, nodes: Sequence[int], shares: int) -> list[str]:
    """Every node records the same beacon for each height, with `shares` shares; return the seeds."""
    seeds = []
    for height in heights:
        events = [_beacon_event(localnet, height, via) for via in nodes]
        assert all(e == events[0] for e in events), (height, events)
        assert events[0]["vote_height"] == str(height - 1)
        assert events[0]["shares"] == str(shares), (height, events[0])
        seeds.append(events[0]["seed"])
    assert len(set(seeds)) == len(seeds), "the seed must change every block"
    return seeds


def test_genesis_turns_on_vote_extensions_with_every_validator_on_duty(localnet: Localnet) -> None:
    genesis = json.loads(net.node_home(localnet.directory, 0).genesis.read_text())
    assert genesis["consensus_params"]["abci"]["vote_extensions_enable_height"] == "1"
    members = genesis["app_state"]["committee"]["members"]
    assert sorted(m["operator"] for m in members) == sorted(localnet.operator(i) for i in range(VALIDATORS))
    for i in range(VALIDATORS):
        key = net.node_home(localnet.directory, i).bls_key
        assert os.stat(key).st_mode & 0o777 == 0o600


def test_the_seed_advances_every_block_and_all_nodes_agree(localnet: Localnet) -> None:
    localnet.wait_all(7)
    _check_blocks(localnet, range(2, 8), range(VALIDATORS), shares=VALIDATORS)

    def agreed() -> committee_pb2.Seed | None:
        seeds = [_seed(localnet, i) for i in range(VALIDATORS)]
        same_height = {s.height for s in seeds} == {seeds[0].height}
        return seeds[0] if same_height and all(s == seeds[0] for s in seeds) else None

    # The nodes commit within moments of each other: poll until all four answer for one height.
    seed = wait_until("all nodes to report the seed of one height", agreed, timeout=30, poll=0.05)
    assert seed.vote_height == seed.height - 1 and seed.shares == VALIDATORS
    assert _beacon_event(localnet, seed.height, via=0)["seed"] == seed.seed.hex()


def test_a_validator_stopped_for_good_does_not_stop_the_beacon(localnet: Localnet) -> None:
    assert net.stop_node(localnet.directory, VALIDATORS - 1)
    live = range(VALIDATORS - 1)
    # Blocks from two after the stop have no precommit of the stopped node, so no share is due from it.
    start = max(localnet.height(i) for i in live) + 2
    localnet.wait_all(start + 5, nodes=live)
    _check_blocks(localnet, range(start, start + 6), live, shares=VALIDATORS - 1)
    assert _seed(localnet, 0).height >= start + 5
