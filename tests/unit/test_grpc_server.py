"""The gRPC query server on a real grpc.aio socket: every service, pagination, reflection, health,
errors, and reads of committed state only (a staged block is never seen).

The chain is an in-memory app driven through its ABCI handlers (tests/integration/staking_harness);
the server runs on its own asyncio loop in a background thread, as it runs beside the ABCI server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from app.client.grpc_query import GrpcQueryClient, QueryRejected, QueryUnavailable
from app.client.verified import verify_answer
from app.core.query import QueryService
from app.grpc.server import GrpcBindError, QueryServer
from app.modules.services import SERVICES, get_service
from app.state.backend import Backend, MemoryBackend
from synod.auth.v1 import query_pb2 as auth_query
from synod.bank.v1 import query_pb2 as bank_query
from synod.slashing.v1 import query_pb2 as slashing_query
from synod.staking.v1 import query_pb2 as staking_query
from tendermint.abci import types_pb2 as abci
from tests.integration.staking_harness import (
    POWER_REDUCTION as PR,
)
from tests.integration.staking_harness import (
    StakingChain,
    address,
    cons_address,
    msg_delegate,
    msg_undelegate,
)

VALIDATORS = {"val1": 10 * PR, "val2": 20 * PR}
BALANCES = {"val1": 100 * PR, "val2": 100 * PR, "dave": 100 * PR, "erin": 5}


class _Running:
    """A QueryServer over a backend, on a loop of its own in a daemon thread."""

    def __init__(self, backend: Backend) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = QueryServer(backend)
        port = self.loop.run_until_complete(self.server.start("127.0.0.1:0"))
        self.address = f"127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def chain() -> StakingChain:
    """Two validators; dave delegates to val1 and undelegates part; val2 double-signs (evidence)."""
    chain = StakingChain()
    chain.init(BALANCES, VALIDATORS)
    chain.block()
    assert chain.run_tx("dave", msg_delegate("dave", "val1", 4 * PR)).code == 0
    assert chain.run_tx("dave", msg_undelegate("dave", "val1", PR)).code == 0
    double_sign = abci.Misbehavior(
        type=abci.DUPLICATE_VOTE, validator=abci.Validator(address=cons_address("val2"), power=20), height=2
    )
    chain.block(misbehavior=[double_sign])
    chain.blocks(2)
    return chain


@pytest.fixture(scope="module")
def client(chain: StakingChain) -> Iterator[GrpcQueryClient]:
    running = _Running(chain.backend)
    try:
        with GrpcQueryClient(running.address, timeout=10) as client:
            yield client
    finally:
        running.close()


DAVE = address("dave")
# (module, method, request): the gRPC answer must match the ABCI answer at the same path.
CASES = [
    ("auth", "Account", auth_query.QueryAccountRequest(address=DAVE)),
    ("auth", "Params", auth_query.QueryParamsRequest()),
    ("bank", "AllBalances", bank_query.QueryAllBalancesRequest(address=DAVE)),
    ("bank", "Supply", bank_query.QuerySupplyRequest()),
    ("bank", "Params", bank_query.QueryParamsRequest()),
    ("staking", "Validators", staking_query.QueryValidatorsRequest()),
    ("staking", "Validator", staking_query.QueryValidatorRequest(operator_address=address("val2"))),
    ("staking", "Delegations", staking_query.QueryDelegationsRequest(delegator_address=DAVE)),
    ("staking", "Unbonding", staking_query.QueryUnbondingRequest()),
    ("staking", "Params", staking_query.QueryParamsRequest()),
    ("slashing", "SigningInfos", slashing_query.QuerySigningInfosRequest()),
    ("slashing", "Evidence", slashing_query.QueryEvidenceRequest()),
    ("slashing", "Params", slashing_query.QueryParamsRequest()),
]


@pytest.mark.parametrize(("module", "method", "request_"), CASES, ids=[f"{c[0]}.{c[1]}" for c in CASES])
def test_every_answer_verifies_and_matches_the_abci_answer(
    chain: StakingChain, client: GrpcQueryClient, module: str, method: str, request_
) -> None:
    response = client.call(module, method, request_)
    assert (response.proof.height, response.proof.app_hash) == (chain.height, chain.app.store.app_hash)
    assert response.proof.entries, "every answer proves what it read"
    verified = verify_answer(get_service(module), method, request_, response, chain.app.store.app_hash)
    expected = chain.ask(module, method, request_)
    for answer in (verified, expected):
        for name in ("pagination", "proof"):
            if name in answer.DESCRIPTOR.fields_by_name:
                answer.ClearField(name)
    assert verified == expected


def test_point_queries_with_no_entry_answer_unset_with_a_proof(client: GrpcQueryClient) -> None:
    stranger = address("nobody")
    assert not client.call("auth", "Account", auth_query.QueryAccountRequest(address=stranger)).HasField(
        "account"
    )
    info = client.call(
        "slashing", "SigningInfo", slashing_query.QuerySigningInfoRequest(consensus_address="AB" * 20)
    )
    assert not info.HasField("info") and not info.proof.entries[0].exists
    known = cons_address("val1").hex()
    assert (
        client.call(
            "slashing", "SigningInfo", slashing_query.QuerySigningInfoRequest(consensus_address=known)
        ).info.tombstoned
        is False
    )


def test_pagination_walks_the_list_with_opaque_keys(client: GrpcQueryClient) -> None:
    everything = client.call("auth", "Accounts", auth_query.QueryAccountsRequest()).accounts
    assert len(everything) >= 5  # four funded keys plus module accounts
    seen, key = [], b""
    while True:
        request = auth_query.QueryAccountsRequest()
        request.pagination.limit, request.pagination.key = 2, key
        page = client.call("auth", "Accounts", request)
        assert len(page.accounts) <= 2
        seen.extend(page.accounts)
        key = page.pagination.next_key
        if not key:
            break
    assert seen == list(everything)


@pytest.mark.parametrize(
    ("module", "method", "request_", "needle"),
    [
        ("bank", "AllBalances", bank_query.QueryAllBalancesRequest(address="synod1nope"), "address"),
        ("bank", "Balance", bank_query.QueryBalanceRequest(address=DAVE, denom="X"), "denom"),
        (
            "slashing",
            "SigningInfo",
            slashing_query.QuerySigningInfoRequest(consensus_address="zz"),
            "consensus",
        ),
    ],
)
def test_bad_requests_are_invalid_argument(
    client: GrpcQueryClient, module: str, method: str, request_, needle: str
) -> None:
    with pytest.raises(QueryRejected, match=needle) as caught:
        client.call(module, method, request_)
    assert caught.value.status == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.codespace == "sdk" and caught.value.code in (7, 18)  # the registered error


def test_reflection_lists_and_describes_every_service(client: GrpcQueryClient) -> None:
    with grpc.insecure_channel(client.address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {s.name for s in SERVICES} | {"grpc.health.v1.Health"} <= services
        pool = DescriptorPool(database)
        method = pool.FindServiceByName("synod.bank.v1.Query").FindMethodByName("AllBalances")
        assert method.output_type.fields_by_name["proof"].message_type.full_name == "synod.base.v1.StateProof"


def test_health_reports_serving(client: GrpcQueryClient) -> None:
    with grpc.insecure_channel(client.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "synod.staking.v1.Query"):
            status = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING


def test_only_committed_state_is_served() -> None:
    chain = StakingChain()
    chain.init(BALANCES, VALIDATORS)
    running = _Running(chain.backend)
    try:
        with GrpcQueryClient(running.address, timeout=10) as client:
            with pytest.raises(QueryUnavailable, match="not committed a block yet"):
                client.call("bank", "Supply", bank_query.QuerySupplyRequest())
            chain.block()
            request = bank_query.QueryBalanceRequest(address=address("erin"), denom="usyn")
            before = client.call("bank", "Balance", request)
            chain.finalize([chain.tx("dave", msg_delegate("dave", "val2", PR))])  # staged, not committed
            during = client.call("bank", "Supply", bank_query.QuerySupplyRequest())
            assert during.proof.height == before.proof.height == 1
            assert during.proof.app_hash == before.proof.app_hash == chain.app.store.app_hash
            chain.abci.commit(abci.RequestCommit())
            assert client.call("bank", "Balance", request).proof.height == 2
    finally:
        running.close()


def test_a_busy_address_fails_to_bind_with_a_clear_error(client: GrpcQueryClient) -> None:
    server = QueryServer(MemoryBackend())
    with pytest.raises(GrpcBindError, match="grpc_address"):
        asyncio.run(server.start(client.address))


def test_a_service_must_answer_every_method_and_carry_proofs() -> None:
    bank = get_service("bank")
    partial = {k: v for k, v in bank.answers.items() if k != "Supply"}
    with pytest.raises(TypeError, match="answers for"):
        QueryService("bank", bank.descriptor, partial)
    health_service = health_pb2.DESCRIPTOR.services_by_name["Health"]
    answers = dict.fromkeys(health_service.methods_by_name, bank.answers["Params"])
    with pytest.raises(TypeError, match="StateProof"):
        QueryService("health", health_service, answers)


def test_unknown_clients_get_unavailable_with_a_hint() -> None:
    with GrpcQueryClient("127.0.0.1:1", timeout=2) as client, pytest.raises(QueryUnavailable, match="--grpc"):
        client.call("bank", "Params", bank_query.QueryParamsRequest())
