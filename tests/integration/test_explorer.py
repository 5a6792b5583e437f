"""The explorer's server over an in-process chain: its JSON snapshot, its event stream, its cost to
the node, and its errors when it cannot start."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from app.client.grpc_query import GrpcQueryClient
from app.client.verified import Freshness, VerifiedQuerier
from app.explorer.evaluate import Evaluate, evaluate_with_jax
from app.explorer.server import ExplorerServer, MissingBundle, check_bundle
from app.explorer.state import Explorer, Sources
from cli.explorer import explorer, open_explorer
from tests.integration.explorer_harness import (
    ChainNode,
    RpcOverHttp,
    committee_chain,
    committee_story,
    explorer_over,
    stub_evaluate,
)
from tests.integration.harness import test_key
from tests.unit.rest_fakes import Gateway


def _get(port: int, path: str) -> tuple[int, bytes, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A stand-in page bundle (the JSON endpoints do not need the real one)."""
    for name in ("index.html", "main.js", "style.css"):
        (tmp_path / name).write_text(f"<!-- {name} -->")
    return tmp_path


def test_the_snapshot_shows_the_task_its_rounds_the_attacker_and_the_slashes(bundle: Path) -> None:
    tc, node = committee_chain()
    ex = explorer_over(node)
    server = ExplorerServer(ex, bundle)
    port = server.start("127.0.0.1", 0)
    try:
        story = committee_story(tc)
        assert next(story) == "posted"
        ex.refresh()
        first = json.loads(_get(port, "/api/snapshot")[1])
        task = first["tasks"][0]
        assert task["description"] == "digits <b>committee</b> demo" and task["rounds_done"] == 0
        for _ in story:
            pass
        ex.refresh()
        status, body, headers = _get(port, "/api/snapshot")
        snap = json.loads(body)
    finally:
        server.stop()
    assert status == 200 and headers["x-synod-height"] == str(snap["height"]) == str(node.height)
    task = snap["tasks"][0]
    assert task["status"] == "finished" and [r["round"] for r in task["rounds"]] == [1, 2]
    dave, v3 = test_key("dave").address, test_key("v3").address
    for row in task["rounds"]:
        assert row["outcome"] == "aggregated" and row["rejected"] == [dave] and len(row["model_hash"]) == 64
        assert {s["operator"] for s in row["committee"]["seats"]} == {
            test_key(m).address for m in ("v1", "v2", "v3")
        }
    assert [r["baseline_bps"] for r in task["rounds"]] == [5000, 8000]
    verdicts = {u["worker"]: u["verdict"] for u in task["rounds"][0]["verdicts"]["updates"]}
    assert verdicts[dave] == "failed_score"
    assert {u["worker"]: u["verdict"] for u in task["rounds"][1]["verdicts"]["updates"]}[dave] == "replayed"
    attacker = next(p for p in task["participants"] if p["address"] == dave)
    assert attacker["rejected_updates"] == 2 and int(attacker["slashed"]) > 0
    reasons = {(s["module"], s["who"], s["reason"]) for s in snap["slashes"]}
    assert ("tasks", dave, "rejected_update") in reasons
    assert ("committee", v3, "attestation_faults") in reasons
    chain = snap["chain"]
    assert chain["height"] == node.height and {v["moniker"] for v in chain["validators"]} == {
        "v1",
        "v2",
        "v3",
    }
    assert chain["blocks"][0]["height"] == node.height and chain["txs"]
    # No trust anchor here: every panel says it is unverified.
    assert not any(b["verified"] for b in snap["badges"].values())


def test_many_viewers_cost_the_node_one_read_per_block(bundle: Path) -> None:
    tc, node = committee_chain()
    ex = explorer_over(node)
    server = ExplorerServer(ex, bundle)
    port = server.start("127.0.0.1", 0)  # its refresher polls the chain once a second
    try:
        ex.refresh()
        reads = ex.reads
        asked = []
        node.abci_query = lambda *a, **k: asked.append(a) or {}  # type: ignore[method-assign]
        for _ in range(50):  # 100 requests
            assert _get(port, "/api/snapshot")[0] == 200
            assert _get(port, "/")[0] == 200
        assert ex.reads == reads and asked == []  # no new block: nothing was read
    finally:
        server.stop()


def test_the_event_stream_pushes_a_snapshot_at_each_new_block(bundle: Path) -> None:
    tc, node = committee_chain()
    ex = explorer_over(node)
    server = ExplorerServer(ex, bundle)
    port = server.start("127.0.0.1", 0)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/api/events")
        response = connection.getresponse()
        assert response.getheader("content-type").startswith("text/event-stream")
        heights = []
        story = committee_story(tc)
        while len(heights) < 3:
            line = response.readline()
            if line.startswith(b"data: "):
                snapshot = json.loads(line[len(b"data: ") :])
                heights.append(snapshot["height"])
                next(story, None)  # the next step's blocks; the refresher sees them within a second
        assert heights == sorted(heights) and heights[-1] > heights[0]
    finally:
        connection.close()
        server.stop()
    # A refresh that finishes after the server stopped (its loop closed) wakes nobody and raises
    # nothing: it used to raise RuntimeError('Event loop is closed') in the refresher thread.
    server.broadcast.notify()
    ex.on_update()


def test_an_unbuilt_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingBundle, match="scripts/setup.sh"):
        check_bundle(tmp_path)


def test_a_home_that_is_not_a_node_home_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(explorer, ["--home", str(tmp_path)])
    assert result.exit_code == 1 and "is not a node home" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_node_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(click.ClickException, match="cannot reach CometBFT RPC at http://127.0.0.1:1"):
        open_explorer(str(tmp_path), "tcp://127.0.0.1:1", "127.0.0.1:0")
    result = CliRunner().invoke(explorer, ["--home", str(tmp_path), "--node", "tcp://127.0.0.1:1"])
    assert result.exit_code == 1 and "cannot reach CometBFT RPC" in result.output


def test_the_snapshot_shows_a_settled_query_its_accuracy_and_reputations() -> None:
    from tests.integration import test_consensus as tcons
    from tests.integration.harness import Chain, test_bls_key
    from tests.integration.staking_harness import cons_address

    chain = Chain(
        beacon_keys={cons_address(n): test_bls_key(n) for n in tcons.VALIDATORS},
        vote_keys={cons_address(n): test_key("consensus:" + n) for n in tcons.VALIDATORS},
    )
    node = ChainNode(chain, {cons_address(n): p for n, p in tcons.BONDS.items()})
    chain.init(tcons.FUNDS, tcons._genesis())
    tcons._lifecycle(chain)
    ex = explorer_over(node)
    assert ex.refresh()
    snap = json.loads(ex.document)
    query = snap["queries"][0]
    settlement = query["settlement"]
    assert query["id"] == 1 and query["phase"] in ("settled", "closed")
    assert settlement["labels_revealed"] and settlement["accuracy_bps"] is not None
    assert settlement["round"] == 1 and settlement["voters"] >= 2
    people = {p["address"]: p for p in query["participants"]}
    assert set(people) == {test_key(n).address for n in tcons.STAKES}
    assert all("reputation_now_bps" in p for p in people.values())
    dave = test_key("dave").address
    assert ("consensus", dave, "missed_reveal") in {
        (s["module"], s["who"], s["reason"]) for s in snap["slashes"]
    }


class _Headers:
    """A light-client stand-in: header h + 1 carries the app hash the chain committed at height h
    (a real light client checks the header's signatures; here the chain itself is trusted)."""

    def __init__(self, node: ChainNode) -> None:
        self.node = node
        self.rpc = self

    def _hash_at(self, height: int) -> bytes:
        return self.node.app_hashes[height]

    def verify_to_height(self, height: int) -> SimpleNamespace:
        return SimpleNamespace(height=height, app_hash=self._hash_at(height - 1))

    def verify_latest(self) -> SimpleNamespace:
        return SimpleNamespace(height=self.node.height + 1)

    def commit(self, height: int | None = None) -> dict:
        return {"header": {"height": str(self.node.height + 1)}}


def test_with_a_trust_anchor_module_panels_are_verified_and_tampering_shows(bundle: Path) -> None:
    tc, node = committee_chain()
    for _ in committee_story(tc):
        pass
    gateway = Gateway(node.chain.backend)
    client = GrpcQueryClient(gateway.grpc_address, timeout=10)
    try:
        querier = VerifiedQuerier(client, _Headers(node), freshness=Freshness(max_lag=10))  # type: ignore[arg-type]
        ex = Explorer(Sources(rpc=node, querier=querier, verified=True))  # type: ignore[arg-type]
        assert ex.refresh()
        snap = json.loads(ex.document)
        for panel in ("tasks", "queries"):
            assert snap["badges"][panel] == {
                "verified": True,
                "height": node.height,
                "source": "gRPC, proven against light-client headers",
            }
        assert not snap["badges"]["chain"]["verified"] and snap["tasks"][0]["rounds_done"] == 2
        # A node whose state does not match the verified app hash: the panel says so, nothing is shown.
        node.app_hashes[node.height] = b"\x00" * 32
        tc.chain.block([])
        node.app_hashes[node.height] = b"\x00" * 32
        assert ex.refresh()
        snap = json.loads(ex.document)
        assert snap["tasks"] is None and not snap["badges"]["tasks"]["verified"]
        assert snap["badges"]["tasks"]["error"]
    finally:
        client.close()
        gateway.close()


def _wait_for(ex: Explorer, done: Callable[[dict], bool]) -> dict:
    """The explorer's snapshot once done(snapshot) holds (the evaluator works in its own thread)."""
    for _ in range(200):
        snap = json.loads(ex.document)
        if done(snap):
            return snap
        time.sleep(0.05)
    raise AssertionError(f"never reached: {json.loads(ex.document)['tasks'][0].get('evaluation')}")


def test_each_checkpoint_is_evaluated_once_and_shows_without_another_block() -> None:
    tc, node = committee_chain()
    calls: list[int] = []

    def make() -> Evaluate:
        def run(task: object, round_: int, weights: bytes) -> tuple[float, float]:
            calls.append(round_)
            return stub_evaluate()(task, round_, weights)  # type: ignore[arg-type]

        return run

    ex = explorer_over(node, evaluate=make)
    try:
        for _ in committee_story(tc):
            pass
        for _ in range(3):  # two downloads per block: rounds 0 and 1, then round 2
            ex.refresh()
            tc.chain.block([])
        snap = _wait_for(ex, lambda s: len(s["tasks"][0]["evaluation"]["rounds"]) == 3)
        rounds = snap["tasks"][0]["evaluation"]["rounds"]
        assert [(r["round"], r["accuracy"], r["loss"]) for r in rounds] == [
            (0, 0.5, 1.0),
            (1, 0.6, 0.9),
            (2, 0.7, 0.8),
        ]
        hashes = {r["round"]: r["model_hash"] for r in snap["tasks"][0]["rounds"]}
        assert all(hashes[r["round"]] == r["model_hash"] for r in rounds if r["round"])
        assert sorted(calls) == [0, 1, 2]  # once each, however many blocks
    finally:
        ex.stop()


def test_a_task_whose_evaluation_data_does_not_load_says_why() -> None:
    tc, node = committee_chain()
    ex = explorer_over(node, evaluate=evaluate_with_jax)  # the real evaluation (JAX)
    try:
        for _ in committee_story(tc):
            pass
        ex.refresh()
        snap = _wait_for(ex, lambda s: bool(s["tasks"][0]["evaluation"]["error"]))
        # The harness task names wine's test split with a made-up hash: this copy differs.
        assert "DatasetError" in snap["tasks"][0]["evaluation"]["error"]
        assert "differs from the task owner's" in snap["tasks"][0]["evaluation"]["error"]
    finally:
        ex.stop()


def test_synod_explorer_serves_a_node_over_its_rpc(tmp_path: Path) -> None:
    """open_explorer (what `synod explorer` runs) with the real RPC client and block follower (its
    websocket refused: it polls /status) over an HTTP stand-in of the node's RPC."""
    tc, node = committee_chain()
    rpc = RpcOverHttp(node)
    server = None
    try:
        server, url = open_explorer(str(tmp_path), rpc.url, "127.0.0.1:0", evaluate=False)
        assert url.startswith("http://127.0.0.1:") and not server.explorer.sources.verified
        port = int(url.rsplit(":", 1)[1].rstrip("/"))
        for _ in committee_story(tc):
            pass
        for _ in range(100):  # the follower polls /status once a second
            snap = json.loads(_get(port, "/api/snapshot")[1])
            if snap.get("height") == node.height and snap["tasks"]:
                break
            time.sleep(0.1)
        assert snap["height"] == node.height and snap["tasks"][0]["rounds_done"] == 2
        assert b"<title>Synod explorer</title>" in _get(port, "/")[1]
        assert _get(port, "/static/main.js")[0] == 200
    finally:
        if server is not None:
            server.stop()
        rpc.close()
