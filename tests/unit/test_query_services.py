"""Every module's query service, answered once: each rpc of tasks, committee and consensus gives the
same answer over gRPC (proven, then verified) and over ABCI Query; lists page by start key from one
height; and every new service refuses tampered values, proofs, heights, keys and derived fields.

The chains are in-memory apps driven through their ABCI handlers by the integration scenarios: a
committee task stopped in round 2's score phase (checkpoints, an open round, a committee with one
attestation, judged round 1), and a consensus query run to its labels plus a fast query pending.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from google.protobuf.message import Message

from app.client.grpc_query import GrpcQueryClient, QueryRejected
from app.client.querier import MixedHeights, collect_pages
from app.client.verified import (
    Freshness,
    StaleAnswer,
    TamperedAnswer,
    TamperedEntry,
    VerifiedQuerier,
    WrongHeight,
    WrongKey,
    verify_answer,
)
from app.core.query import MAX_PAGE_LIMIT
from app.modules.services import SERVICES, get_service
from app.state.backend import MemoryBackend
from app.state.proving import CommittedReader
from app.state.store import CommitStore
from synod.auth.v1 import auth_pb2
from synod.auth.v1 import query_pb2 as auth_query
from synod.committee.v1 import query_pb2 as committee_query
from synod.consensus.v1 import query_pb2 as consensus_query
from synod.consensus.v1 import tx_pb2
from synod.tasks.v1 import query_pb2 as tasks_query
from tendermint.abci import types_pb2 as abci
from tests.integration import test_committee as committee_scenario
from tests.integration import test_consensus as consensus_scenario
from tests.integration.harness import Chain, test_key
from tests.integration.tasks_harness import TaskChain, update_vector
from tests.unit import test_grpc_server
from tests.unit.test_grpc_server import _Running

BOB, CAROL = test_key("bob").address, test_key("carol").address


def _learning_chain() -> TaskChain:
    """A committee task: round 1 judged, round 2 revealed and attested by v1 only (score phase open)."""
    chain = Chain(
        beacon_keys={
            committee_scenario.cons_address(n): committee_scenario.test_bls_key(n)
            for n in committee_scenario.MEMBERS
        }
    )
    tc = TaskChain(chain)
    chain.init(committee_scenario.FUNDS, committee_scenario._genesis())
    committee_scenario._run_ok(tc, tc.post(schedule=committee_scenario.SCHEDULE))
    task = tc.task()
    committee_scenario._run_ok(tc, *[tc.join(w) for w in committee_scenario.WORKERS])
    updates = {"bob": update_vector(1), "carol": update_vector(2), "dave": update_vector(5)}
    committee_scenario._play(tc, task, 1, updates)
    scores = {"bob": 8000, "carol": 8100, "dave": 7900}
    committee_scenario._commit_and_reveal(
        tc, {m: committee_scenario._attestation(tc, m, 1, 5000, scores) for m in committee_scenario.MEMBERS}
    )
    tc.advance_past_round(1)
    committee_scenario._play(tc, task, 2, {"bob": update_vector(3), "carol": update_vector(4)})
    # Every seat commits and v1 reveals in the same block: the reveal window opened early.
    ours = {
        m: committee_scenario._attestation(tc, m, 2, 8000, {"bob": 8200, "carol": 8300})
        for m in ("v1", "v2", "v3")
    }
    committee_scenario._run_ok(
        tc,
        *[tc.chain.tx(m, [committee_scenario.msg_commit(a)]) for m, a in ours.items()],
        tc.chain.tx("v1", [ours["v1"]]),
    )
    return tc


def _prediction_chain() -> Chain:
    """A prediction query settled and labelled, and a fast query still waiting for answers."""
    chain = consensus_scenario._new_chain()
    consensus_scenario._lifecycle(chain)
    register = tx_pb2.MsgRegisterModel(operator=test_key("v1").address, model="logreg digits")
    consensus_scenario.ok(chain, chain.tx("v1", [register]))
    consensus_scenario.ok(chain, consensus_scenario.post(chain, fast=True, rounds=0))
    return chain


@pytest.fixture(scope="module")
def learning() -> TaskChain:
    return _learning_chain()


@pytest.fixture(scope="module")
def prediction() -> Chain:
    return _prediction_chain()


@pytest.fixture(scope="module")
def served(learning: TaskChain, prediction: Chain) -> Iterator[dict[str, tuple[Chain, GrpcQueryClient]]]:
    """A real gRPC server over each chain's backend."""
    running = {
        name: _Running(chain.backend)
        for name, chain in (("learning", learning.chain), ("prediction", prediction))
    }
    clients = {name: GrpcQueryClient(r.address, timeout=10) for name, r in running.items()}
    try:
        yield {
            "learning": (learning.chain, clients["learning"]),
            "prediction": (prediction, clients["prediction"]),
        }
    finally:
        for client in clients.values():
            client.close()
        for r in running.values():
            r.close()


# (chain, module, method, request); a request whose record does not exist must fail alike on both.
CASES: list[tuple[str, str, str, Message]] = [
    ("learning", "tasks", "Task", tasks_query.QueryTaskRequest(task_id=1)),
    ("learning", "tasks", "Tasks", tasks_query.QueryTasksRequest()),
    ("learning", "tasks", "Rounds", tasks_query.QueryRoundsRequest(task_id=1)),
    ("learning", "tasks", "Model", tasks_query.QueryModelRequest(task_id=1, round=1)),
    ("learning", "tasks", "Participants", tasks_query.QueryParticipantsRequest(task_id=1)),
    ("learning", "tasks", "Commitments", tasks_query.QueryCommitmentsRequest(task_id=1, round=2)),
    ("learning", "tasks", "Reveals", tasks_query.QueryRevealsRequest(task_id=1, round=2)),
    ("learning", "tasks", "Update", tasks_query.QueryUpdateRequest(task_id=1, round=2, worker=BOB)),
    ("learning", "tasks", "Trace", tasks_query.QueryTraceRequest(task_id=1, round=2, worker=BOB)),
    ("learning", "tasks", "Params", tasks_query.QueryParamsRequest()),
    ("learning", "committee", "Params", committee_query.QueryParamsRequest()),
    ("learning", "committee", "Members", committee_query.QueryMembersRequest()),
    ("learning", "committee", "Committee", committee_query.QueryCommitteeRequest(task_id=1, round=2)),
    ("learning", "committee", "Scores", committee_query.QueryScoresRequest(task_id=1, round=1)),
    ("learning", "committee", "Reputation", committee_query.QueryReputationRequest(address=BOB)),
    ("learning", "committee", "Seed", committee_query.QuerySeedRequest()),
    ("prediction", "consensus", "Params", consensus_query.QueryParamsRequest()),
    ("prediction", "consensus", "Query", consensus_query.QueryQueryRequest(query_id=1)),
    ("prediction", "consensus", "Queries", consensus_query.QueryQueriesRequest()),
    ("prediction", "consensus", "Answer", consensus_query.QueryAnswerRequest(query_id=1)),
    ("prediction", "consensus", "Participants", consensus_query.QueryParticipantsRequest(query_id=1)),
    ("prediction", "consensus", "Round", consensus_query.QueryRoundRequest(query_id=1, round=0)),
    (
        "prediction",
        "consensus",
        "Peers",
        consensus_query.QueryPeersRequest(query_id=1, round=0, participant=BOB),
    ),
    ("prediction", "consensus", "Models", consensus_query.QueryModelsRequest()),
    ("prediction", "consensus", "Pending", consensus_query.QueryPendingRequest()),
    ("prediction", "consensus", "Reputation", consensus_query.QueryReputationRequest(address=CAROL)),
    ("learning", "committee", "Dkg", committee_query.QueryDkgRequest()),
    ("learning", "committee", "Dealings", committee_query.QueryDealingsRequest(dkg_id=1)),
    ("learning", "committee", "EpochSeed", committee_query.QueryEpochSeedRequest(epoch=3)),
]


def test_every_rpc_of_every_service_is_compared_across_transports() -> None:
    covered = {(m, method) for _, m, method, _ in CASES} | {
        (m, method) for m, method, _ in test_grpc_server.CASES
    }
    covered |= {("auth", "Accounts"), ("bank", "Balance"), ("bank", "SupplyOf"), ("slashing", "SigningInfo")}
    every = {(s.module, method) for s in SERVICES for method in s.answers}
    assert every == covered, every ^ covered
    assert {s.module for s in SERVICES} == {
        "auth",
        "bank",
        "staking",
        "slashing",
        "tasks",
        "committee",
        "consensus",
    }


def _abci(
    chain: Chain, module: str, method: str, request: Message, prove: bool = False
) -> abci.ResponseQuery:
    path = get_service(module).path(method)
    return chain.abci.query(abci.RequestQuery(path=path, data=request.SerializeToString(), prove=prove))


def _strip(answer: Message) -> Message:
    copy = type(answer)()
    copy.CopyFrom(answer)
    for name in ("proof", "pagination"):
        if name in copy.DESCRIPTOR.fields_by_name:
            copy.ClearField(name)
    return copy


@pytest.mark.parametrize(
    ("net", "module", "method", "request_"), CASES, ids=[f"{c[1]}.{c[2]}" for c in CASES]
)
def test_every_rpc_answers_the_same_over_grpc_and_abci_and_verifies(
    served: dict, net: str, module: str, method: str, request_: Message
) -> None:
    chain, client = served[net]
    service, app_hash = get_service(module), chain.app.store.app_hash
    plain = _abci(chain, module, method, request_)
    try:
        response = client.call(module, method, request_)
    except QueryRejected as e:  # a record that does not exist: the same registered error both ways
        assert plain.code != 0 and (e.codespace, e.code) == (plain.codespace, plain.code), plain.log
        return
    assert plain.code == 0, plain.log
    assert response.proof.height == chain.app.store.height and response.proof.entries
    verified = verify_answer(service, method, request_, response, app_hash)
    assert _strip(verified) == _strip(service.response_class(method).FromString(plain.value))
    proven = service.response_class(method).FromString(
        _abci(chain, module, method, request_, prove=True).value
    )
    assert _strip(verify_answer(service, method, request_, proven, app_hash)) == _strip(verified)


def test_the_scenarios_reach_every_kind_of_record(served: dict) -> None:
    """The cases above compare real data, not empty answers."""
    learning, client = served["learning"]
    assert len(client.call("tasks", "Rounds", tasks_query.QueryRoundsRequest(task_id=1)).rounds) == 2
    assert (
        len(client.call("tasks", "Reveals", tasks_query.QueryRevealsRequest(task_id=1, round=2)).reveals) == 2
    )
    committee = client.call(
        "committee", "Committee", committee_query.QueryCommitteeRequest(task_id=1, round=2)
    )
    assert len(committee.committee.seats) == 3 and len(committee.attestations) == 1
    assert len(committee.commitments) == 3
    assert client.call("committee", "Params", committee_query.QueryParamsRequest()).eligible_members == 3
    model = client.call("tasks", "Model", tasks_query.QueryModelRequest(task_id=1, round=1))
    assert hashlib.sha256(model.weights).digest() == model.round.model_hash
    _, consensus = served["prediction"]
    assert consensus.call(
        "consensus", "Answer", consensus_query.QueryAnswerRequest(query_id=1)
    ).settlement.labels_revealed
    assert [
        q.id for q in consensus.call("consensus", "Pending", consensus_query.QueryPendingRequest()).queries
    ] == [2]
    peers = next(c[3] for c in CASES if c[2] == "Peers")
    assert consensus.call("consensus", "Peers", peers).peers


# ---------------------------------------------------------------- tampering, one named error each


def _served_answer(
    served: dict, net: str, module: str, method: str, request: Message
) -> tuple[Message, bytes]:
    chain, client = served[net]
    return client.call(module, method, request), chain.app.store.app_hash


TAMPER_CASES = [
    ("learning", "tasks", "Model", tasks_query.QueryModelRequest(task_id=1, round=1)),
    ("learning", "committee", "Committee", committee_query.QueryCommitteeRequest(task_id=1, round=2)),
    ("prediction", "consensus", "Answer", consensus_query.QueryAnswerRequest(query_id=1)),
]
IDS = [c[1] for c in TAMPER_CASES]


@pytest.mark.parametrize(("net", "module", "method", "request_"), TAMPER_CASES, ids=IDS)
def test_a_tampered_value_is_tampered_entry(
    served: dict, net: str, module: str, method: str, request_
) -> None:
    response, app_hash = _served_answer(served, net, module, method, request_)
    entry = next(e for e in response.proof.entries if e.exists)
    entry.value = entry.value[:-1] + bytes([entry.value[-1] ^ 1])
    with pytest.raises(TamperedEntry):
        verify_answer(get_service(module), method, request_, response, app_hash)


@pytest.mark.parametrize(("net", "module", "method", "request_"), TAMPER_CASES, ids=IDS)
def test_a_tampered_proof_is_tampered_entry(
    served: dict, net: str, module: str, method: str, request_
) -> None:
    response, app_hash = _served_answer(served, net, module, method, request_)
    other, _ = _served_answer(served, net, module, "Params", get_service(module).request_class("Params")())
    response.proof.entries[0].proof = other.proof.entries[0].proof  # a valid proof, of another key
    with pytest.raises(TamperedEntry):
        verify_answer(get_service(module), method, request_, response, app_hash)


@pytest.mark.parametrize(("net", "module", "method", "request_"), TAMPER_CASES, ids=IDS)
def test_an_answer_against_another_root_is_wrong_height(
    served: dict, net: str, module: str, method: str, request_
) -> None:
    response, app_hash = _served_answer(served, net, module, method, request_)
    with pytest.raises(WrongHeight):
        verify_answer(get_service(module), method, request_, response, hashlib.sha256(app_hash).digest())


@pytest.mark.parametrize(("net", "module", "method", "request_"), TAMPER_CASES, ids=IDS)
def test_an_entry_for_an_unasked_key_is_wrong_key(
    served: dict, net: str, module: str, method: str, request_
) -> None:
    response, app_hash = _served_answer(served, net, module, method, request_)
    params, _ = _served_answer(served, net, module, "Params", get_service(module).request_class("Params")())
    response.proof.entries.append(params.proof.entries[0])  # proven, but not what the answer reads
    with pytest.raises(WrongKey):
        verify_answer(get_service(module), method, request_, response, app_hash)


def test_tampered_derived_fields_are_tampered_answers(served: dict) -> None:
    """Fields the server computes (a phase, capture numbers, served weights) are re-derived."""
    task, app_hash = _served_answer(served, "learning", "tasks", "Task", CASES[0][3])
    task.phase = "join"
    with pytest.raises(TamperedAnswer, match="phase"):
        verify_answer(get_service("tasks"), "Task", CASES[0][3], task, app_hash)
    model, _ = _served_answer(served, "learning", "tasks", "Model", TAMPER_CASES[0][3])
    model.weights = bytes([model.weights[0] ^ 1]) + model.weights[1:]
    with pytest.raises(TamperedAnswer, match="weights"):
        verify_answer(get_service("tasks"), "Model", TAMPER_CASES[0][3], model, app_hash)
    params, _ = _served_answer(
        served, "learning", "committee", "Params", committee_query.QueryParamsRequest()
    )
    params.target_met = not params.target_met
    with pytest.raises(TamperedAnswer, match="target_met"):
        verify_answer(
            get_service("committee"), "Params", committee_query.QueryParamsRequest(), params, app_hash
        )
    query, consensus_hash = _served_answer(served, "prediction", "consensus", "Query", CASES[17][3])
    query.phase_end_height += 1
    with pytest.raises(TamperedAnswer, match="phase_end_height"):
        verify_answer(get_service("consensus"), "Query", CASES[17][3], query, consensus_hash)


# ---------------------------------------------------------------- pages: start keys, caps, one height


def _accounts_store(count: int) -> CommitStore:
    from app.modules.auth import keys as auth_keys

    store = CommitStore(MemoryBackend())
    block = store.branch()
    for n in range(count):
        address = n.to_bytes(20, "big")
        block.set(
            auth_keys.STORE_PREFIX + auth_keys.account_key(address),
            auth_pb2.BaseAccount(account_number=n).SerializeToString(),
        )
    store.stage(block, 3)
    store.commit()
    return store


def _page(store: CommitStore, key: bytes = b"", limit: int = 0) -> auth_query.QueryAccountsResponse:
    request = auth_query.QueryAccountsRequest()
    request.pagination.key, request.pagination.limit = key, limit
    reader = CommittedReader.open(store.backend)
    try:
        return reader.answer(get_service("auth").answers["Accounts"], request)
    finally:
        reader.close()


def test_a_page_starts_at_its_key_and_the_page_size_is_capped() -> None:
    store = _accounts_store(MAX_PAGE_LIMIT + 300)
    first = _page(store, limit=10 * MAX_PAGE_LIMIT)
    assert len(first.accounts) == MAX_PAGE_LIMIT and len(first.proof.entries) == MAX_PAGE_LIMIT
    assert first.pagination.next_key == (MAX_PAGE_LIMIT).to_bytes(20, "big")
    deep_request = auth_query.QueryAccountsRequest()
    deep_request.pagination.key, deep_request.pagination.limit = (
        (MAX_PAGE_LIMIT + 290).to_bytes(20, "big"),
        50,
    )
    deep = _page(store, deep_request.pagination.key, 50)
    assert [a.account_number for a in deep.accounts] == list(
        range(MAX_PAGE_LIMIT + 290, MAX_PAGE_LIMIT + 300)
    )
    assert not deep.pagination.next_key
    # Only the page's own entries are read and proven: a deep page does no work for the keys before it.
    assert len(deep.proof.entries) == 10
    assert (
        len(verify_answer(get_service("auth"), "Accounts", deep_request, deep, store.app_hash).accounts) == 10
    )
    default = _page(store)
    assert len(default.accounts) == 100


def test_the_leveldb_backend_seeks_to_the_start_key(tmp_path) -> None:
    from app.state.backend import LevelDBBackend

    db = LevelDBBackend(tmp_path / "db")
    try:
        db.write_batch({b"a1": b"1", b"b1": b"2", b"b2": b"3", b"b3": b"4", b"c1": b"5"}, [])
        assert [k for k, _ in db.iterate(b"b", b"b2")] == [b"b2", b"b3"]
        assert [k for k, _ in db.iterate(b"b")] == [b"b1", b"b2", b"b3"]
        snapshot = db.snapshot()
        assert [k for k, _ in snapshot.iterate(b"b", b"b3")] == [b"b3"]
        snapshot.close()
    finally:
        db.close()


def test_a_list_whose_pages_come_from_different_heights_is_read_again_or_refused() -> None:
    request = auth_query.QueryAccountsRequest()
    pages = [auth_pb2.BaseAccount(account_number=n) for n in range(3)]

    def answers(heights: Iterator[int]):  # noqa: ANN202
        def ask(r: auth_query.QueryAccountsRequest) -> tuple[Message, int]:
            index = int.from_bytes(r.pagination.key or b"\x00", "big")
            page = auth_query.QueryAccountsResponse(accounts=[pages[index]])
            if index < 2:
                page.pagination.next_key = bytes([index + 1])
            return page, next(heights)

        return ask

    # A block commits between pages 1 and 2 of the first read; the second read is consistent.
    merged = collect_pages(answers(iter([5, 6, 6, 6, 6])), request, "accounts")
    assert [a.account_number for a in merged.accounts] == [0, 1, 2] and not merged.HasField("pagination")
    with pytest.raises(MixedHeights, match="one height"):
        collect_pages(answers(iter(range(100))), request, "accounts")


# ---------------------------------------------------------------- freshness


class _Light:
    """A light client stand-in whose newest verified header is `newest`."""

    def __init__(self, app_hash: bytes, newest: int) -> None:
        self.app_hash, self.newest = app_hash, newest

    def verify_to_height(self, height: int) -> SimpleNamespace:
        return SimpleNamespace(app_hash=self.app_hash)

    def verify_latest(self) -> SimpleNamespace:
        return SimpleNamespace(height=self.newest)


class _Server:
    def __init__(self, store: CommitStore) -> None:
        self.store = store

    def call(self, service, method: str, request):  # noqa: ANN001, ANN201
        reader = CommittedReader.open(self.store.backend)
        try:
            return reader.answer(service.answers[method], request)
        finally:
            reader.close()


def test_a_verified_but_old_answer_is_refused_as_stale() -> None:
    store = _accounts_store(3)  # committed at height 3, so a fresh answer is verified by header 4
    request = auth_query.QueryAccountsRequest()

    def querier(newest: int, **freshness: int) -> VerifiedQuerier:
        return VerifiedQuerier(
            _Server(store), _Light(store.app_hash, newest), freshness=Freshness(**freshness)
        )  # type: ignore[arg-type]

    assert len(querier(4, max_lag=0).ask("auth", "Accounts", request).accounts) == 3
    assert querier(14, max_lag=10).ask("auth", "Accounts", request).accounts
    with pytest.raises(StaleAnswer, match="11 blocks behind the newest verified header 15"):
        querier(15, max_lag=10).ask("auth", "Accounts", request)
    with pytest.raises(StaleAnswer, match="below the --min-height 4"):
        querier(4, min_height=4).ask("auth", "Accounts", request)
    assert querier(10**6).ask("auth", "Accounts", request).accounts  # no bound: any verified age


class _BusyLight:
    """A light client stand-in during whose header verification the chain commits another block."""

    def __init__(self, store: CommitStore) -> None:
        self.store = store
        self.roots = {store.height: store.app_hash}

    def verify_to_height(self, height: int) -> SimpleNamespace:
        block = self.store.branch()
        block.set(b"\x01" + b"\xff" * 20, auth_pb2.BaseAccount().SerializeToString())
        self.store.stage(block, self.store.height + 1)
        self.store.commit()
        self.roots[self.store.height] = self.store.app_hash
        return SimpleNamespace(app_hash=self.roots[height - 1])


def test_a_verified_list_reads_every_page_before_it_waits_for_a_header() -> None:
    store = _accounts_store(250)  # three pages of 100
    querier = VerifiedQuerier(_Server(store), _BusyLight(store))  # type: ignore[arg-type]
    accounts = querier.ask_all("auth", "Accounts", auth_query.QueryAccountsRequest()).accounts
    assert [a.account_number for a in accounts] == list(range(250)) and querier.last_height == 3
