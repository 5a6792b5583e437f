"""Prometheus metrics: a block finalized through the ABCI socket server moves the ABCI, tx, gas and
height metrics; block events move the task, round, query and slash counters; gRPC and REST calls
are counted; and the gateway's /metrics exposition parses.
"""

from __future__ import annotations

import asyncio

from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from app.abci.framing import FrameDecoder, encode_frame
from app.abci.server import AbciServer
from app.client.grpc_query import GrpcQueryClient
from app.metrics import compute_msg_types, observe_block
from synod.bank.v1 import query_pb2 as bank_query
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import GENESIS_TIME, Chain, test_key
from tests.unit.rest_fakes import Gateway, get

SEND = "/synod.bank.v1.MsgSend"


def _value(name: str, **labels: str) -> float:
    """A sample's current value (0 before its first observation)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _frames(*requests: abci.Request) -> bytes:
    return b"".join(encode_frame(r.SerializeToString()) for r in requests)


async def _exchange(server: AbciServer, requests: list[abci.Request]) -> list[abci.Response]:
    """Send requests over one socket connection; read their responses."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(_frames(*requests, abci.Request(flush=abci.RequestFlush())))
    await writer.drain()
    decoder, out = FrameDecoder(), []
    while len(out) < len(requests) + 1:
        data = await asyncio.wait_for(reader.read(1 << 16), timeout=10)
        assert data
        out += [abci.Response.FromString(f) for f in decoder.feed(data)]
    writer.close()
    return out


def test_a_block_finalized_through_the_server_moves_the_counters() -> None:
    chain = Chain()
    chain.init({"alice": 10**9, "bob": 10**9})
    good = chain.send("alice", test_key("bob").address, 5)
    height = chain.app.store.height + 1
    before = {
        "finalize": _value("synod_abci_request_seconds_count", method="finalize_block"),
        "commit": _value("synod_abci_request_seconds_count", method="commit"),
        "ok": _value("synod_tx_msgs_total", msg_type=SEND, codespace="", code="0"),
        "junk": _value("synod_tx_msgs_total", msg_type="undecodable", codespace="sdk", code="2"),
        "blocks": _value("synod_block_gas_used_count"),
        "gas": _value("synod_block_gas_used_sum"),
        "transfers": _value("synod_events_total", type="transfer"),
    }
    finalize = abci.RequestFinalizeBlock(
        height=height, txs=[good, b"junk"], time=Timestamp(seconds=GENESIS_TIME + 10)
    )

    async def run() -> list[abci.Response]:
        server = AbciServer(chain.abci)
        await server.start("tcp://127.0.0.1:0")
        try:
            return await _exchange(
                server, [abci.Request(finalize_block=finalize), abci.Request(commit=abci.RequestCommit())]
            )
        finally:
            await server.stop()

    responses = asyncio.run(run())
    results = responses[0].finalize_block.tx_results
    assert [r.code for r in results] == [0, 2]
    assert _value("synod_abci_request_seconds_count", method="finalize_block") == before["finalize"] + 1
    assert _value("synod_abci_request_seconds_count", method="commit") == before["commit"] + 1
    assert _value("synod_tx_msgs_total", msg_type=SEND, codespace="", code="0") == before["ok"] + 1
    assert (
        _value("synod_tx_msgs_total", msg_type="undecodable", codespace="sdk", code="2") == before["junk"] + 1
    )
    assert _value("synod_block_gas_used_count") == before["blocks"] + 1
    assert _value("synod_block_gas_used_sum") == before["gas"] + sum(r.gas_used for r in results) > 0
    assert _value("synod_events_total", type="transfer") == before["transfers"] + 1
    assert _value("synod_block_height") == height


def _event(kind: str, **attrs: str) -> abci.Event:
    return abci.Event(type=kind, attributes=[abci.EventAttribute(key=k, value=v) for k, v in attrs.items()])


def test_block_events_move_the_task_round_query_and_slash_counters() -> None:
    watched = [
        ("synod_slashes_total", {"module": "slashing", "reason": "double_sign"}),
        ("synod_slashes_total", {"module": "tasks", "reason": "missed_reveal"}),
        ("synod_slashes_total", {"module": "consensus", "reason": "missed_reveal"}),
        ("synod_slashes_total", {"module": "committee", "reason": "committee"}),
        ("synod_rounds_closed_total", {"outcome": "ROUND_OUTCOME_AGGREGATED"}),
        ("synod_query_rounds_closed_total", {}),
        ("synod_task_phases_closed_total", {"phase": "commit", "early": "True"}),
        ("synod_queries_finished_total", {"outcome": "settled"}),
        ("synod_queries_finished_total", {"outcome": "closed:labels"}),
        ("synod_tasks_started_total", {}),
        ("synod_tasks_closed_total", {"status": "TASK_STATUS_DONE"}),
    ]
    before = [_value(name, **labels) for name, labels in watched]
    response = abci.ResponseFinalizeBlock(
        events=[
            _event("slash", reason="double_sign"),
            _event("worker_slashed", task_id="1", reason="missed_reveal"),
            _event("participant_slashed", query_id="1", reason="missed_reveal"),
            _event("committee_slash", operator="x"),
            _event("round_closed", task_id="1", outcome="ROUND_OUTCOME_AGGREGATED"),
            _event("round_closed", query_id="1", round="0"),
            _event("phase_closed", task_id="1", phase="commit", early="True"),
            _event("query_settled", query_id="1"),
            _event("query_closed", query_id="1", reason="labels"),
            _event("task_started", task_id="1"),
            _event("task_closed", task_id="1", status="TASK_STATUS_DONE"),
        ]
    )
    observe_block(abci.RequestFinalizeBlock(height=5), response, set())
    after = [_value(name, **labels) for name, labels in watched]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1] * len(watched)


def test_message_types_are_bounded_to_the_chains_own() -> None:
    chain = Chain()
    chain.init({"alice": 10**9})
    tx = chain.send("alice", test_key("bob").address, 5)
    assert compute_msg_types(tx, chain.app.routes) == [SEND]
    assert compute_msg_types(tx, set()) == ["unknown"]
    assert compute_msg_types(b"\xff\xff", chain.app.routes) == ["undecodable"]


def test_the_gateway_serves_an_exposition_that_parses_with_grpc_and_rest_counts() -> None:
    chain = Chain()
    chain.init({"alice": 10**9})
    gateway = Gateway(chain.backend)
    try:
        with GrpcQueryClient(gateway.grpc_address, timeout=10) as client:
            client.call("bank", "Params", bank_query.QueryParamsRequest())
        assert get(gateway, "/synod/bank/v1/params")[0] == 200
        assert get(gateway, "/synod/bank/v1/balances/nope")[0] == 400
        status, text, headers = get(gateway, "/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain")
    finally:
        gateway.close()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"synod_abci_request_seconds", "synod_txs", "synod_block_gas_used"} <= set(families)
    grpc = [s for s in families["synod_grpc_requests"].samples if s.name == "synod_grpc_requests_total"]
    assert any(s.labels == {"method": "/synod.bank.v1.Query/Params", "code": "OK"} for s in grpc)
    rest = {
        (s.labels["route"], s.labels["status"])
        for s in families["synod_rest_requests"].samples
        if s.name == "synod_rest_requests_total"
    }
    assert {("/synod/bank/v1/params", "200"), ("/synod/bank/v1/balances/{address}", "400")} <= rest


def test_the_grafana_dashboard_charts_only_metrics_that_exist() -> None:
    import json
    import re

    import app.metrics
    from app.node.toolchain import REPO_ROOT

    doc = json.loads((REPO_ROOT / "localnet" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    used = {m for e in exprs for m in re.findall(r"\b(synod_[a-z_]+)", e)}
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    exported = {
        m._name + suffix
        for m in vars(app.metrics).values()
        if hasattr(m, "_type") and hasattr(m, "_name")
        for suffix in suffixes[m._type]
    }
    assert used and used <= exported, used - exported
    assert any(e.startswith("cometbft_consensus_height") for e in exprs)


def test_a_made_up_http_method_or_path_adds_no_label_values() -> None:
    import http.client

    chain = Chain()
    chain.init({"alice": 10**9})
    gateway = Gateway(chain.backend)
    try:
        for i in range(3):
            connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
            connection.request(f"BREW{i}", f"/made/up/{i}")
            assert connection.getresponse().status in (400, 404, 405)  # the parser may refuse it first
            connection.close()
    finally:
        gateway.close()
    methods = {
        s.labels["method"]
        for f in REGISTRY.collect()
        if f.name == "synod_rest_requests"
        for s in f.samples
        if s.labels.get("route") == "unmatched"
    }
    assert not any(m.startswith("BREW") for m in methods)
