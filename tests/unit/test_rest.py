"""The REST gateway over real chains: every route answers what gRPC answers (as proto3 JSON), proofs
verify with ?verify=true, errors carry registered codes, txs reach a fake CometBFT RPC, and the
route table covers every rpc.

The chains are those of the gRPC tests (a staking chain with evidence; a committee task mid-round;
a settled prediction query): the real QueryServer and the RestServer run over each one's backend.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
from collections.abc import Iterator

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from app.client.grpc_query import GrpcQueryClient, QueryRejected
from app.client.rpc import CometRPC
from app.client.verified import verify_answer
from app.core.query import QueryService
from app.modules.services import SERVICES, get_service
from app.rest import routes as rest_routes
from app.rest.routes import ROUTES, compute_routes
from app.state.backend import MemoryBackend
from synod.auth.v1 import query_pb2 as auth_query
from synod.bank.v1 import query_pb2 as bank_query
from synod.slashing.v1 import query_pb2 as slashing_query
from tests.integration.harness import DENOM
from tests.unit import test_grpc_server, test_query_services
from tests.unit.rest_fakes import FakeComet, Gateway, get, post
from tests.unit.test_grpc_server import DAVE, chain  # noqa: F401 - the staking chain fixture
from tests.unit.test_query_services import learning, prediction  # noqa: F401 - chain fixtures

# (chain, module, method, request): every rpc of every service, over the chain that has its data.
CASES: list[tuple[str, str, str, Message]] = [
    *[("staking", m, method, r) for m, method, r in test_grpc_server.CASES],
    *test_query_services.CASES,
    ("staking", "auth", "Accounts", auth_query.QueryAccountsRequest()),
    ("staking", "bank", "Balance", bank_query.QueryBalanceRequest(address=DAVE, denom=DENOM)),
    ("staking", "bank", "SupplyOf", bank_query.QuerySupplyOfRequest(denom=DENOM)),
    (
        "staking",
        "slashing",
        "SigningInfo",
        slashing_query.QuerySigningInfoRequest(consensus_address=test_grpc_server.cons_address("val1").hex()),
    ),
]


IDS = [f"{c[1]}.{c[2]}" for c in CASES]


@pytest.fixture(scope="module")
def gateways(chain, learning, prediction) -> Iterator[dict]:  # noqa: ANN001, F811
    """(chain, gateway, gRPC client) per scenario."""
    chains = {"staking": chain, "learning": learning.chain, "prediction": prediction}
    running = {name: Gateway(c.backend) for name, c in chains.items()}
    clients = {name: GrpcQueryClient(g.grpc_address, timeout=10) for name, g in running.items()}
    try:
        yield {name: (chains[name], running[name], clients[name]) for name in chains}
    finally:
        for client in clients.values():
            client.close()
        for g in running.values():
            g.close()


def compute_url(module: str, method: str, request: Message, **extra: str) -> str:
    """The REST URL of an rpc call: path fields into the template, the other set fields as query."""
    service = get_service(module)
    template = ROUTES[f"{service.name}/{method}"]
    fields = json_format.MessageToDict(request, preserving_proto_field_name=True)
    path_fields = rest_routes._PARAM_RE.findall(template)
    path = template.format(**{f: urllib.parse.quote(str(fields.pop(f, 0)), safe="") for f in path_fields})
    query = {k: v for k, v in fields.items() if not isinstance(v, dict)}
    query.update(extra)
    return path + ("?" + urllib.parse.urlencode(query) if query else "")


def _json(answer: Message) -> dict:
    """The gateway's rendering of a gRPC answer, proof left out."""
    copy = type(answer)()
    copy.CopyFrom(answer)
    copy.ClearField("proof")
    return json_format.MessageToDict(
        copy, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def test_every_rpc_of_every_service_has_one_route_and_a_case() -> None:
    every = {f"{s.name}/{m}" for s in SERVICES for m in s.answers}
    assert set(ROUTES) == every, set(ROUTES) ^ every
    assert len(compute_routes()) == len(every)
    covered = {f"{get_service(m).name}/{method}" for _, m, method, _ in CASES}
    assert covered == every, every - covered


def test_a_service_with_an_rpc_the_table_lacks_is_refused() -> None:
    bank = get_service("bank")
    extra = QueryService("bank2", bank.descriptor, bank.answers)
    renamed = {**ROUTES}
    del renamed["synod.bank.v1.Query/Supply"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rest_routes, "ROUTES", renamed)
        with pytest.raises(TypeError, match="Supply"):
            compute_routes((extra,))


@pytest.mark.parametrize(
    ("net", "module", "method", "request_"), CASES, ids=[f"{c[1]}.{c[2]}" for c in CASES]
)
def test_every_route_answers_what_grpc_answers(
    gateways: dict, net: str, module: str, method: str, request_: Message
) -> None:
    chain_, gateway, client = gateways[net]
    status, body, headers = get(gateway, compute_url(module, method, request_))
    try:
        expected = client.call(module, method, request_)
    except QueryRejected as e:  # a record that does not exist: the same registered code, 404
        assert status == 404 and (body["codespace"], body["code"]) == (e.codespace, e.code), body
        return
    assert status == 200, body
    assert body == _json(expected)
    assert "proof" not in body and headers["x-synod-height"] == str(chain_.app.store.height)


@pytest.mark.parametrize(
    ("net", "module", "method", "request_"), CASES, ids=[f"{c[1]}.{c[2]}" for c in CASES]
)
def test_verify_true_returns_a_proof_the_light_client_check_accepts(
    gateways: dict, net: str, module: str, method: str, request_: Message
) -> None:
    chain_, gateway, client = gateways[net]
    status, body, _ = get(gateway, compute_url(module, method, request_, verify="true"))
    if status == 404:
        return  # compared with gRPC above
    assert status == 200, body
    service = get_service(module)
    served = json_format.ParseDict(body, service.response_class(method)())
    assert served.proof.height == chain_.app.store.height and served.proof.entries
    app_hash = chain_.app.store.app_hash
    verified = verify_answer(service, method, request_, served, app_hash)
    grpc_verified = verify_answer(service, method, request_, client.call(module, method, request_), app_hash)
    assert _json(verified) == _json(grpc_verified)


def test_pages_walk_with_the_cosmos_pagination_parameters(gateways: dict) -> None:
    _, gateway, _ = gateways["staking"]
    _, everything, _ = get(gateway, "/synod/auth/v1/accounts")
    seen, key = [], ""
    while True:
        query = {"pagination.limit": "2", **({"pagination.key": key} if key else {})}
        status, page, _ = get(gateway, "/synod/auth/v1/accounts?" + urllib.parse.urlencode(query))
        assert status == 200 and len(page["accounts"]) <= 2
        seen += page["accounts"]
        key = page["pagination"].get("next_key", "")
        if not key:
            break
    assert seen == everything["accounts"] and len(seen) >= 5


@pytest.mark.parametrize(
    ("path", "status", "codespace", "code"),
    [
        ("/synod/bank/v1/balances/synod1nope", 400, "sdk", 7),  # bad address
        (f"/synod/bank/v1/balances/{DAVE}/by_denom?denom=X", 400, "sdk", 18),  # bad denom
        ("/synod/tasks/v1/tasks/abc", 400, "sdk", 18),  # not a number
        ("/synod/tasks/v1/tasks/18446744073709551616", 400, "sdk", 18),  # past uint64
        ("/synod/tasks/v1/tasks?pagination.key=%%%", 400, "sdk", 18),  # key not base64
        ("/synod/tasks/v1/tasks?denom=usyn", 400, "sdk", 18),  # not a parameter of the route
        ("/synod/tasks/v1/tasks?verify=maybe", 400, "sdk", 18),
        ("/synod/tasks/v1/tasks/99", 404, "tasks", None),  # no such task: tasks' own code
        ("/synod/nothing/here", 404, "sdk", 6),
        ("/cosmos/tx/v1beta1/txs/nothex", 400, "sdk", 18),
    ],
)
def test_errors_are_json_with_their_registered_code(
    gateways: dict, path: str, status: int, codespace: str, code: int | None
) -> None:
    _, gateway, _ = gateways["learning"]
    got, body, _ = get(gateway, path)
    assert got == status, body
    assert set(body) == {"code", "codespace", "message"} and body["codespace"] == codespace
    assert body["code"] == code if code is not None else body["code"] > 1
    assert "Traceback" not in body["message"]


def test_a_missing_task_has_the_code_grpc_sends(gateways: dict) -> None:
    _, gateway, client = gateways["learning"]
    from synod.tasks.v1 import query_pb2 as tasks_query

    with pytest.raises(QueryRejected) as caught:
        client.call("tasks", "Task", tasks_query.QueryTaskRequest(task_id=99))
    _, body, _ = get(gateway, "/synod/tasks/v1/tasks/99")
    assert (body["codespace"], body["code"]) == (caught.value.codespace, caught.value.code)


def test_a_wrong_method_is_405_json(gateways: dict) -> None:
    _, gateway, _ = gateways["staking"]
    status, body, _ = post(gateway, "/synod/staking/v1/validators", b"{}")
    assert status == 405 and body["code"] == 6 and "openapi.json" in body["message"]


def test_before_the_first_commit_queries_are_503() -> None:
    gateway = Gateway(MemoryBackend())
    try:
        status, body, _ = get(gateway, "/synod/bank/v1/params")
        assert status == 503 and (body["codespace"], body["code"]) == ("app", 2)
    finally:
        gateway.close()


# ---------------------------------------------------------------- txs, through a fake CometBFT RPC


@pytest.fixture(scope="module")
def comet() -> Iterator[FakeComet]:
    fake = FakeComet()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def tx_gateway(chain, comet: FakeComet) -> Iterator[Gateway]:  # noqa: ANN001, F811
    gateway = Gateway(chain.backend, CometRPC(comet.url, timeout=5))
    yield gateway
    gateway.close()


def _broadcast(gateway: Gateway, tx: bytes, **extra: str) -> tuple[int, dict, dict]:
    body = {"tx_bytes": base64.b64encode(tx).decode(), "mode": "BROADCAST_MODE_SYNC", **extra}
    return post(gateway, "/cosmos/tx/v1beta1/txs", json.dumps(body).encode())


def test_a_broadcast_reaches_cometbft_and_answers_its_check(
    chain,  # noqa: ANN001, F811
    tx_gateway: Gateway,
    comet: FakeComet,
) -> None:
    tx = chain.tx("dave", test_grpc_server.msg_delegate("dave", "val1", 1))
    status, body, _ = _broadcast(tx_gateway, tx)
    assert status == 200, body
    assert comet.received[-1] == tx
    assert body["tx_response"]["txhash"] == hashlib.sha256(tx).hexdigest().upper()
    assert body["tx_response"]["code"] == 0 and body["tx_response"]["height"] == "0"


def test_a_lookup_finds_an_included_tx_and_404s_an_unknown_one(tx_gateway: Gateway, comet: FakeComet) -> None:
    tx_hash = comet.include(b"some tx", 7)
    status, body, _ = get(tx_gateway, f"/cosmos/tx/v1beta1/txs/{tx_hash.lower()}")
    assert status == 200, body
    response = body["tx_response"]
    assert (response["height"], response["txhash"], response["gas_used"]) == ("7", tx_hash, "51234")
    assert base64.b64decode(response["tx"]) == b"some tx"
    status, body, _ = get(tx_gateway, "/cosmos/tx/v1beta1/txs/" + "AB" * 32)
    assert status == 404 and (body["codespace"], body["code"]) == ("sdk", 38)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, 18),
        (b'{"mode": "BROADCAST_MODE_SYNC"}', 400, 18),
        (b'{"tx_bytes": "!!!"}', 400, 2),
        (b'{"tx_bytes": "AAAA", "mode": "BROADCAST_MODE_BLOCK"}', 400, 18),
    ],
)
def test_malformed_broadcasts_are_400(tx_gateway: Gateway, body: bytes, status: int, code: int) -> None:
    got, answer, _ = post(tx_gateway, "/cosmos/tx/v1beta1/txs", body)
    assert (got, answer["codespace"], answer["code"]) == (status, "sdk", code), answer


def test_a_tx_over_max_tx_bytes_is_413_and_never_forwarded(tx_gateway: Gateway, comet: FakeComet) -> None:
    before = len(comet.received)
    status, body, _ = _broadcast(tx_gateway, b"\x00" * ((1 << 20) + 1))  # auth's default is 1 MiB
    assert (status, body["codespace"], body["code"]) == (413, "sdk", 21)
    huge = b'{"tx_bytes": "' + b"A" * (2 << 20) + b'"}'  # refused by its length, before it is parsed
    status, body, _ = post(tx_gateway, "/cosmos/tx/v1beta1/txs", huge)
    assert (status, body["code"]) == (413, 21)
    assert len(comet.received) == before


def test_without_a_reachable_cometbft_txs_are_503(chain) -> None:  # noqa: ANN001, F811
    for rpc in (None, CometRPC("http://127.0.0.1:9", timeout=2)):
        gateway = Gateway(chain.backend, rpc)
        try:
            status, body, _ = _broadcast(gateway, b"\x01" * 10)
            assert (status, body["codespace"], body["code"]) == (503, "rest", 2), body
            status, body, _ = get(gateway, "/cosmos/tx/v1beta1/txs/" + "AB" * 32)
            assert status == 503, body
        finally:
            gateway.close()


# ---------------------------------------------------------------- settings


def test_api_address_round_trips_through_app_toml_and_each_localnet_node_has_its_own(tmp_path) -> None:  # noqa: ANN001
    from app.node import localnet
    from app.node.config import DEFAULT_API_ADDRESS, AppConfig, NodeHome, load_app_config, write_app_config

    home = NodeHome(tmp_path)
    home.app_toml.parent.mkdir(parents=True)
    write_app_config(home)
    assert load_app_config(home).api_address == DEFAULT_API_ADDRESS == "127.0.0.1:1317"
    write_app_config(home, AppConfig(api_address=""))
    assert load_app_config(home).api_address == ""  # off
    spec = localnet.LocalnetSpec(directory=tmp_path, base_ip="127.0.0.1")
    assert [localnet._app_config(spec, i).api_address for i in range(2)] == [
        "127.0.0.1:1317",
        "127.0.0.2:1317",
    ]
    peers = ["id@127.0.0.2:26656"]
    settings = localnet._node_settings(spec, 1, peers)
    assert settings[("instrumentation", "prometheus")] == "true"
    assert settings[("instrumentation", "prometheus_listen_addr")] == '"127.0.0.2:26660"'


def test_the_listener_sets_tcp_nodelay_for_its_connections() -> None:
    """Without it a kept-alive client waited a delayed ACK (~40 ms) for every answer from a worker."""
    import socket

    from app.rest.server import _bind

    sock = _bind("127.0.0.1:0")
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        sock.close()
