"""Consensus learning end to end on a real four-validator localnet (vote extensions on).

Open prediction query: the poster commits to the labels of 40 held-out digits and posts them by
reference, with one communication round. Four `synod predict run` agents, each with its own model
trained on its own non-IID shard (one of them stubbornly wrong), register, commit and reveal their
predictions in round 0, revise against the tally and their seeded peers in round 1, and the chain
settles one answer per input. With max_participants = 4, every phase closes as soon as all four
are done (early close) instead of at its deadline. The poster reveals the labels: honest
predictors are paid, and the settled answers beat the stubborn one by far.

Fast path: three validators run `synod ensemble run` (their model's sidecar). A fast query is
answered in their vote extensions and settled within three blocks of the block that included it
(two when the sidecar's answer is loaded before the next precommit: ExtendVote never waits for it).
Every node agrees on every answer.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from app.client.consensus import ConsensusClient
from app.client.keyring import Keyring
from app.client.sender import TxSender
from app.client.txbuilder import msg_send
from app.core.coins import Coins
from app.ml.queryinputs import resolve_inputs_uri
from app.node import localnet as net
from app.node.toolchain import find_binary
from synod.consensus.v1 import consensus_pb2
from tests.e2e.localnet_helpers import Agents, Localnet, running_localnet, wait_until
from tests.e2e.nodes import synod as run_synod

pytestmark = pytest.mark.e2e

VALIDATORS = 4
ENSEMBLE = (0, 1, 2)  # validators that run a model sidecar
PREDICTORS = ("", "", "", "stubborn")
# Round 0 commit phase: long enough for four agents to train at once on two cores (about 20 s).
OPEN_URI = "synod:digits/test?start=0&count=40&seed=0"
FAST_URI = "synod:digits/test?start=40&count=20&seed=0"
REWARD = 1_000_000
SETTLED, CLOSED = consensus_pb2.QUERY_STATUS_SETTLED, consensus_pb2.QUERY_STATUS_CLOSED


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory):
    """Four validators with vote extensions from height 1, stopped at the end."""
    directory = tmp_path_factory.mktemp("consensus-localnet") / "run"
    with running_localnet(directory, VALIDATORS, salt=83) as localnet:
        localnet.wait_all(2)
        yield localnet


def _answers(network: Localnet, query_id: int, via: int) -> consensus_pb2.Settlement | None:
    try:
        return ConsensusClient(network.rpc[via]).answer(query_id)
    except Exception:  # not settled yet: the query answers not-found
        return None


def _check_nodes_agree(network: Localnet, query_id: int) -> consensus_pb2.Settlement:
    views = [_answers(network, query_id, v) for v in range(VALIDATORS)]
    assert views[0] is not None and all(v == views[0] for v in views), f"nodes disagree on query {query_id}"
    return views[0]


def test_an_open_prediction_query_settles_and_pays_who_agreed_with_the_truth(
    network: Localnet, tmp_path: Path
) -> None:
    started = time.monotonic()
    home = tmp_path / "predictors"
    keyring = Keyring(home)
    addresses = [keyring.add(f"p{i}")[0].address for i in range(len(PREDICTORS))]
    key = Keyring(network.home(0)).private_key("validator")
    TxSender(network.rpc[0], key).send(
        [msg_send(key.address, a, Coins.of([("usyn", 10**8)])) for a in addresses], timeout=60
    )
    flags = {
        "--inputs-uri": OPEN_URI, "--labels": 10, "--rounds": 1, "--peer-sample": 2,
        "--min-stake": "10000usyn", "--reward": f"{REWARD}usyn", "--commit-blocks": 90,
        "--reveal-blocks": 10, "--label-blocks": 30, "--max-participants": len(PREDICTORS),
    }  # fmt: skip
    args = [str(part) for pair in flags.items() for part in pair]
    query_id = int(
        network.tx("consensus", "query", "--from", "validator", *args, "--commit-labels", via=0)["query_id"]
    )
    agents = Agents(tmp_path)
    synod = find_binary("synod")
    try:
        for i, attack in enumerate(PREDICTORS):
            argv = [
                synod, "predict", "run", "--key", f"p{i}", "--query", str(query_id), "--home", str(home),
                "--model", ("logreg", "mlp:32", "mlp:16", "logreg")[i],
                "--data", f"digits:shard={i}/{len(PREDICTORS)}:seed=5",
                "--node", net.rpc_address(network.spec, i % VALIDATORS), "--quiet", "-o", "json",
            ]  # fmt: skip
            agents.start(f"p{i}", argv + (["--attack", attack] if attack else []))
        summaries = [agents.finish(f"p{i}", timeout=300) for i in range(len(PREDICTORS))]
    finally:
        agents.stop_all()
    settlement = _check_nodes_agree(network, query_id)
    assert settlement.round == 1 and len(settlement.voters) == len(PREDICTORS)
    # Every phase closed as soon as all four were done (early close): far sooner than the deadlines.
    posted = ConsensusClient(network.rpc[0]).query(query_id).query.posted_height
    assert settlement.height - posted < 90 + 10 + 90, (posted, settlement.height)
    network.tx("consensus", "reveal-labels", str(query_id), "--from", "validator", via=0)
    client = ConsensusClient(network.rpc[0])
    assert client.query(query_id).query.status == CLOSED
    settlement = client.answer(query_id)
    _, labels = resolve_inputs_uri(OPEN_URI)
    assert labels is not None and list(settlement.labels) == [int(c) for c in labels]
    # The settled answer, proven: node1's light client trusts its first block, node1 serves gRPC.
    run_synod("light", "init", "--home", network.home(1))
    proven = json.loads(
        run_synod(
            "query", "consensus", "answer", str(query_id), "--verify", "--home", network.home(1), "-o", "json"
        ).stdout
    )
    assert proven["verified_height"] > 0 and proven["labels"] == list(settlement.labels)
    assert [a["answer"] for a in proven["answers"]] == [t.answer for t in settlement.tallies]
    stubborn = summaries[PREDICTORS.index("stubborn")]
    honest = [s for s, a in zip(summaries, PREDICTORS, strict=True) if not a]
    # The settled answers are far better than the stubborn predictor and as good as the best honest model.
    assert settlement.accuracy_bps >= 7000, settlement.accuracy_bps
    assert settlement.accuracy_bps > (stubborn["final_accuracy_bps"] or 0) + 5000  # what it submitted
    assert settlement.accuracy_bps >= max(s["own_accuracy_bps"] for s in honest) - 500
    paid = {p.address: int(p.reward or 0) for p in client.participants(query_id)}
    assert paid[addresses[PREDICTORS.index("stubborn")]] < min(paid[addresses[i]] for i in range(3))
    assert sum(paid.values()) <= REWARD
    print(
        f"consensus e2e: settled accuracy {settlement.accuracy_bps / 100:.1f}%, honest models "
        f"{[s['own_accuracy_bps'] / 100 for s in honest]}, in {time.monotonic() - started:.0f} s"
    )


def test_a_fast_query_is_answered_by_the_validator_ensemble_within_three_blocks(
    network: Localnet, tmp_path: Path
) -> None:
    agents = Agents(tmp_path)
    synod = find_binary("synod")
    client = ConsensusClient(network.rpc[0])
    try:
        for v in ENSEMBLE:
            argv = [
                synod, "ensemble", "run", "--key", "validator", "--home", network.home(v),
                "--model", "logreg", "--data", f"digits:shard={v}/{len(ENSEMBLE)}:seed=7",
                "--node", net.rpc_address(network.spec, v), "--quiet",
            ]  # fmt: skip
            agents.start(f"ensemble{v}", argv)
        wait_until(
            "three registered models",
            lambda: agents.check_running() and len(client.models()) == len(ENSEMBLE),
            180,
        )
        posted = time.monotonic()
        flags = ["--inputs-uri", FAST_URI, "--labels", "10", "--reward", f"{REWARD}usyn", "--fast"]
        result = network.tx("consensus", "query", "--from", "validator", *flags, via=1)
        query_id, included = int(result["query_id"]), int(result["height"])
        wait_until("the fast answer", lambda: agents.check_running() and _answers(network, query_id, 0), 60)
        seconds = time.monotonic() - posted
    finally:
        agents.stop_all()
    settlement = _check_nodes_agree(network, query_id)
    query = client.query(query_id).query
    assert query.status == SETTLED and query.settled_height - included <= 3, (included, query.settled_height)
    assert sorted(settlement.voters) == sorted(network.operator(v) for v in ENSEMBLE)
    _, labels = resolve_inputs_uri(FAST_URI)
    assert labels is not None
    correct = sum(t.answer == int(c) for t, c in zip(settlement.tallies, labels, strict=True))
    assert correct >= 0.6 * len(labels), correct
    print(
        f"fast path: query {query_id} included at {included}, settled at {query.settled_height} "
        f"({query.settled_height - included} blocks, {seconds:.1f} s from broadcast), "
        f"{correct}/{len(labels)} correct"
    )
