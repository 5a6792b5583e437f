"""The randomness beacon on a real four-validator localnet: vote extensions on from genesis, the
bootstrap beacon (every validator's BLS share in every block) until the nodes have run a DKG by
themselves, then one group seed per epoch that all nodes agree on and that verifies under the group
key, and a threshold beacon that outlives a validator stopped for good (3 shares >= t + 1 = 2)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence

import pytest

from app.client.rpc import decode_base64
from app.core import threshold
from app.modules.committee import epochs
from app.modules.committee import keys as committee_keys
from app.node import localnet as net
from synod.committee.v1 import committee_pb2
from synod.committee.v1 import query_pb2 as q
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
    """Every node records the same beacon for each height, with at least `shares` shares (a precommit
    that arrives during timeout_commit is in the commit without its share: cometbft#2361); return
    the seeds."""
    seeds = []
    for height in heights:
        events = [_beacon_event(localnet, height, via) for via in nodes]
        assert all(e == events[0] for e in events), (height, events)
        assert events[0]["vote_height"] == str(height - 1)
        assert int(events[0]["shares"]) >= shares, (height, events[0])
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


def test_the_bootstrap_seed_advances_every_block_and_all_nodes_agree(localnet: Localnet) -> None:
    localnet.wait_all(7)
    # Before the first group (a DKG starts at height 5 and takes 12 blocks): the per-member beacon.
    # More than 2/3 of the power in every commit: at least 3 of the 4 equal validators' shares.
    _check_blocks(localnet, range(2, 8), range(VALIDATORS), shares=VALIDATORS - 1)


def _query(localnet: Localnet, via: int, method: str, request, response):  # noqa: ANN001, ANN202
    """A committee query over node `via`'s ABCI Query; None when it answers with an error."""
    answer = localnet.rpc[via].abci_query(f"/synod.committee.v1.Query/{method}", request.SerializeToString())
    if int(answer.get("code", 0)) != 0:
        return None
    return response.FromString(decode_base64(answer.get("value") or ""))


def _group(localnet: Localnet, via: int) -> committee_pb2.Group | None:
    resp = _query(localnet, via, "Dkg", q.QueryDkgRequest(), q.QueryDkgResponse)
    return resp.group if resp is not None and resp.HasField("group") else None


def _epoch_seed(localnet: Localnet, via: int, epoch: int) -> committee_pb2.Seed | None:
    resp = _query(localnet, via, "EpochSeed", q.QueryEpochSeedRequest(epoch=epoch), q.QueryEpochSeedResponse)
    return resp.seed if resp is not None else None


def _agreed_epoch_seed(localnet: Localnet, nodes: Sequence[int], after: int) -> committee_pb2.Seed:
    """The first epoch seed past epoch `after` that every node holds, identical on all of them."""

    def found() -> committee_pb2.Seed | None:
        latest = _seed(localnet, nodes[0])
        if latest.epoch <= after:
            return None
        seeds = [_epoch_seed(localnet, i, latest.epoch) for i in nodes]
        return seeds[0] if all(s is not None and s == seeds[0] for s in seeds) else None

    return wait_until(f"an epoch seed after epoch {after} on every node", found, timeout=90, poll=0.2)


def test_the_nodes_run_the_dkg_and_the_group_signs_epoch_seeds(localnet: Localnet) -> None:
    group = wait_until("the nodes' DKG to form a group", lambda: _group(localnet, 0), timeout=120, poll=0.5)
    assert len(group.members) == VALIDATORS and group.threshold == 1 and len(group.qualified) >= 2
    assert all(_group(localnet, i) == group for i in range(VALIDATORS))
    seed = _agreed_epoch_seed(localnet, range(VALIDATORS), after=0)
    assert seed.group_id == group.id
    message = epochs.compute_epoch_message(localnet.spec.chain_id, group.id, seed.epoch)
    assert threshold.is_valid_group_signature(group.public_key, message, seed.signature)
    assert seed.seed == epochs.compute_group_seed(seed.signature)
    event = _beacon_event(localnet, seed.height, via=0)
    assert event["epoch"] == str(seed.epoch) and event["seed"] == seed.seed.hex()
    # Later epochs keep getting seeds.
    assert _agreed_epoch_seed(localnet, range(VALIDATORS), after=seed.epoch).epoch > seed.epoch


def test_a_validator_stopped_for_good_does_not_stop_the_beacon(localnet: Localnet) -> None:
    wait_until("a group", lambda: _group(localnet, 0), timeout=120, poll=0.5)
    before = _agreed_epoch_seed(localnet, range(VALIDATORS), after=0)
    assert net.stop_node(localnet.directory, VALIDATORS - 1)
    live = range(VALIDATORS - 1)
    # Three shares are still more than t = 1: seeds keep coming, and the chain keeps going.
    start = max(localnet.height(i) for i in live)
    later = _agreed_epoch_seed(localnet, live, after=_seed(localnet, 0).epoch)
    assert later.epoch > before.epoch and later.height > start
