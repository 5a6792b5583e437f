"""Prometheus metrics of the app process (prometheus-client, its default registry), all `synod_`.

Collected outside the state machine, from what it answers: the ABCI server times each request and
hands each FinalizeBlock's request and response here (message types from the txs, codes and gas
from the tx results, chain events from the block's events); the gRPC server and the REST gateway
count and time their requests. Consensus code never imports this package (DESIGN.md section 2).

Label values are bounded: message types are the chain's registered type URLs (anything else is
`unknown`), event reasons and outcomes are state-machine constants, gRPC methods are the served
ones and REST routes are route templates, never raw paths; so no request can grow the exposition.
"""

from __future__ import annotations

from collections.abc import Container

from google.protobuf.message import DecodeError
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

from app.modules.committee.beacon import is_beacon_tx
from app.modules.consensus.ensemble import is_ensemble_tx
from synod.tx.v1 import tx_pb2
from tendermint.abci import types_pb2 as abci

__all__ = [
    "observe_abci",
    "observe_block",
    "observe_grpc",
    "observe_rest",
    "compute_msg_types",
    "render",
]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_GAS_BUCKETS = tuple(float(4**i) for i in range(6, 17))  # 4,096 .. 2^32
_TX_BUCKETS = (0.0, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0)
_MAX_LABEL = 64

ABCI_SECONDS = Histogram(
    "synod_abci_request_seconds", "Time the app spent answering an ABCI request", ["method"],
    buckets=_LATENCY_BUCKETS,
)  # fmt: skip
BLOCK_HEIGHT = Gauge("synod_block_height", "Height of the last block finalized")
BLOCK_TXS = Histogram("synod_block_txs", "Transactions per finalized block", buckets=_TX_BUCKETS)
BLOCK_GAS_WANTED = Histogram("synod_block_gas_wanted", "Gas wanted by a block's txs", buckets=_GAS_BUCKETS)
BLOCK_GAS_USED = Histogram("synod_block_gas_used", "Gas used by a block's txs", buckets=_GAS_BUCKETS)
TXS = Counter("synod_txs", "Finalized transactions by result", ["codespace", "code"])
TX_MSGS = Counter(
    "synod_tx_msgs", "Messages of finalized transactions by type and their tx's result",
    ["msg_type", "codespace", "code"],
)  # fmt: skip
EVENTS = Counter("synod_events", "Block and tx events by type", ["type"])
TASK_PHASES = Counter("synod_task_phases_closed", "Task phases closed", ["phase", "early"])
TASKS_STARTED = Counter("synod_tasks_started", "Tasks that started round 1")
TASKS_FAILED = Counter("synod_tasks_failed", "Tasks failed for want of workers")
TASKS_CLOSED = Counter("synod_tasks_closed", "Tasks closed by final status", ["status"])
ROUNDS = Counter("synod_rounds_closed", "Learning rounds closed by outcome", ["outcome"])
QUERY_ROUNDS = Counter("synod_query_rounds_closed", "Prediction-query rounds closed")
QUERIES = Counter("synod_queries_finished", "Prediction queries settled, closed or expired", ["outcome"])
SLASHES = Counter("synod_slashes", "Slashes by module and reason", ["module", "reason"])
GRPC_REQUESTS = Counter("synod_grpc_requests", "gRPC query calls by method and status", ["method", "code"])
GRPC_SECONDS = Histogram(
    "synod_grpc_request_seconds", "gRPC query call latency", ["method"], buckets=_LATENCY_BUCKETS
)
REST_REQUESTS = Counter(
    "synod_rest_requests", "REST requests by route, HTTP method and status", ["route", "method", "status"]
)
REST_SECONDS = Histogram(
    "synod_rest_request_seconds", "REST request latency", ["route"], buckets=_LATENCY_BUCKETS
)

# Event type -> (counter, module) of the slashes the modules emit (app/modules/*/hooks.py).
_SLASH_EVENTS = {
    "slash": "slashing",
    "worker_slashed": "tasks",
    "participant_slashed": "consensus",
    "committee_slash": "committee",
}


def _label(value: str) -> str:
    """A label value, cut short (values come from the state machine's constants, but stay bounded)."""
    return value[:_MAX_LABEL]


def observe_abci(method: str, seconds: float) -> None:
    """One ABCI request answered (method: the Request oneof name, e.g. finalize_block)."""
    ABCI_SECONDS.labels(method).observe(seconds)


def compute_msg_types(raw: bytes, known: Container[str]) -> list[str]:
    """The message type URLs of a tx as metric labels: `beacon`/`ensemble` for the proposer's txs,
    `undecodable` for bytes that are no tx, `unknown` for a type the chain does not register."""
    if is_beacon_tx(raw):
        return ["beacon"]
    if is_ensemble_tx(raw):
        return ["ensemble"]
    try:
        body = tx_pb2.TxBody.FromString(tx_pb2.TxRaw.FromString(raw).body_bytes)
    except DecodeError:
        return ["undecodable"]
    return [m.type_url if m.type_url in known else "unknown" for m in body.messages] or ["undecodable"]


def observe_block(
    request: abci.RequestFinalizeBlock, response: abci.ResponseFinalizeBlock, known: Container[str]
) -> None:
    """A finalized block: its height, txs by type and code, gas, and the chain events it emitted."""
    BLOCK_HEIGHT.set(request.height)
    BLOCK_TXS.observe(len(request.txs))
    wanted = used = 0
    for raw, result in zip(request.txs, response.tx_results, strict=False):
        code = str(result.code)
        TXS.labels(_label(result.codespace), code).inc()
        for msg_type in compute_msg_types(raw, known):
            TX_MSGS.labels(_label(msg_type), _label(result.codespace), code).inc()
        wanted += result.gas_wanted
        used += result.gas_used
        _observe_events(result.events)
    BLOCK_GAS_WANTED.observe(wanted)
    BLOCK_GAS_USED.observe(used)
    _observe_events(response.events)


def _attributes(event: abci.Event) -> dict[str, str]:
    """An event's attributes by key."""
    return {a.key: a.value for a in event.attributes}


def _observe_events(events: list[abci.Event]) -> None:
    """Count events, and the task, round, query and slash ones by their outcome."""
    for event in events:
        EVENTS.labels(_label(event.type)).inc()
        attrs = _attributes(event)
        if event.type in _SLASH_EVENTS:
            reason = attrs.get("reason", "committee" if event.type == "committee_slash" else "")
            SLASHES.labels(_SLASH_EVENTS[event.type], _label(reason)).inc()
        elif event.type == "phase_closed":
            TASK_PHASES.labels(_label(attrs.get("phase", "")), _label(attrs.get("early", ""))).inc()
        elif event.type == "round_closed":
            if "task_id" in attrs:
                ROUNDS.labels(_label(attrs.get("outcome", ""))).inc()
            else:
                QUERY_ROUNDS.inc()
        elif event.type in ("query_settled", "query_closed", "query_expired"):
            outcome = event.type.removeprefix("query_") + (f":{attrs['reason']}" if "reason" in attrs else "")
            QUERIES.labels(_label(outcome)).inc()
        elif event.type == "task_started":
            TASKS_STARTED.inc()
        elif event.type == "task_failed":
            TASKS_FAILED.inc()
        elif event.type == "task_closed":
            TASKS_CLOSED.labels(_label(attrs.get("status", ""))).inc()


def observe_grpc(method: str, code: str, seconds: float) -> None:
    """One gRPC call (method: its path, e.g. /synod.bank.v1.Query/Balance; code: its status name)."""
    GRPC_REQUESTS.labels(method, code).inc()
    GRPC_SECONDS.labels(method).observe(seconds)


def observe_rest(route: str, method: str, status: int, seconds: float) -> None:
    """One REST request (route: its template, e.g. /synod/bank/v1/balances/{address})."""
    REST_REQUESTS.labels(route, method, str(status)).inc()
    REST_SECONDS.labels(route).observe(seconds)


def render() -> tuple[bytes, str]:
    """The exposition of every metric (the process's own too) and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
