"""The committee module's query answers over an in-memory store written through its keeper."""

from __future__ import annotations

import hashlib

import pytest

from app.core.crypto import PrivateKey, decode_address
from app.core.errors import ErrInvalidAddress, ErrInvalidRequest, SynodError
from app.modules.committee import logic
from app.modules.committee.errors import ErrNoCommittee, ErrNoScores, ErrNoSeed
from app.modules.committee.keeper import CommitteeKeeper
from app.modules.committee.params import default_params
from app.modules.committee.query_server import compute_params_response
from app.state.kv import Branch, MemoryReader
from synod.committee.v1 import committee_pb2, query_pb2
from tests.unit.rpc_fakes import answer_over_store


def test_key(name: str) -> PrivateKey:
    """The same deterministic key per name as tests/integration/harness.py (which imports the App)."""
    return PrivateKey.from_seed(hashlib.sha256(b"synod-test-key:" + name.encode()).digest())


test_key.__test__ = False  # type: ignore[attr-defined]

OPERATORS = [test_key(f"validator{i}").address for i in range(3)]
WORKERS = sorted((test_key(n).address for n in ("bob", "carol")), key=decode_address)
SEED = committee_pb2.Seed(height=40, vote_height=39, seed=hashlib.sha256(b"seed").digest(), shares=3)


def committee_state(members: int = 3, judged: bool = True) -> tuple[CommitteeKeeper, Branch]:
    """A store with `members` members, task 1 round 2's committee, one attestation and (judged) scores."""
    k, store = CommitteeKeeper(), Branch(MemoryReader())
    for i, operator in enumerate(OPERATORS[:members]):
        member = committee_pb2.Member(
            operator=operator, cons_address=bytes([i]) * 20, bls_pubkey=bytes([i]) * 48, since_height=5
        )
        k.set_member(store, decode_address(operator), member)
    k.set_seed(store, SEED)
    seats = [committee_pb2.Seat(operator=o, power=10 * (i + 1)) for i, o in enumerate(OPERATORS[:2])]
    committee = committee_pb2.Committee(
        task_id=1, round=2, height=41, seed=SEED, seats=seats, workers=WORKERS, target_size=7
    )
    k.set_committee(store, committee)
    scores = [
        committee_pb2.UpdateScore(worker=WORKERS[0], score_bps=8_100),
        committee_pb2.UpdateScore(worker=WORKERS[1], score_bps=2_000, spot_check_failed=True),
    ]
    att = committee_pb2.Attestation(
        task_id=1, round=2, attester=OPERATORS[0], baseline_bps=7_900, scores=scores, height=42
    )
    k.set_attestation(store, decode_address(OPERATORS[0]), att)
    for i, operator in enumerate(OPERATORS[:2]):  # both seats committed; only the first revealed
        commitment = committee_pb2.AttestationCommitment(
            task_id=1, round=2, attester=operator, commitment=bytes([0xC0 + i]) * 32, height=41
        )
        k.set_attestation_commitment(store, decode_address(operator), commitment)
    if judged:
        k.set_scores(store, round_scores())
        k.set_reputation(
            store,
            decode_address(WORKERS[0]),
            committee_pb2.Reputation(address=WORKERS[0], score_bps=5_625, observations=1),
        )
    return k, store


def round_scores() -> committee_pb2.RoundScores:
    """The judgement of task 1 round 2: one accepted update, one failed spot check, a slashed member."""
    return committee_pb2.RoundScores(
        task_id=1,
        round=2,
        baseline_bps=7_900,
        height=44,
        updates=[
            committee_pb2.UpdateVerdict(
                worker=WORKERS[0],
                verdict=committee_pb2.VERDICT_ACCEPTED,
                median_bps=8_100,
                reputation_bps=5_625,
            ),
            committee_pb2.UpdateVerdict(
                worker=WORKERS[1], verdict=committee_pb2.VERDICT_FAILED_SPOT_CHECK, reputation_bps=4_375
            ),
        ],
        members=[
            committee_pb2.MemberVerdict(operator=OPERATORS[0], attested=True, reputation_bps=5_625),
            committee_pb2.MemberVerdict(
                operator=OPERATORS[1], attested=False, faulty=True, reputation_bps=4_375, slashed=True
            ),
        ],
    )


def _ask(k: CommitteeKeeper, store: Branch, method: str, request, response_cls):  # noqa: ANN001, ANN202
    answer = answer_over_store(store, "committee", method, request)
    assert isinstance(answer, response_cls)
    return answer


def _fails(k: CommitteeKeeper, store: Branch, method: str, request) -> SynodError:  # noqa: ANN001
    with pytest.raises(SynodError) as info:
        answer_over_store(store, "committee", method, request)
    return info.value


def test_params_carry_the_size_and_capture_numbers_that_logic_computes() -> None:
    k, store = committee_state(members=3)
    resp = _ask(k, store, "Params", query_pb2.QueryParamsRequest(), query_pb2.QueryParamsResponse)
    p = default_params()
    size = logic.compute_committee_size(p.adversarial_stake_bps, p.capture_target_ppb, p.max_committee_size)
    assert resp.params == p and resp.committee_size == size and size > 3
    assert resp.capture_probability_ppb == logic.compute_capture_probability_ppb(
        size, p.adversarial_stake_bps
    )
    assert resp.capture_probability_ppb <= p.capture_target_ppb
    assert resp.eligible_members == 3
    assert resp.capture_probability_eligible_ppb == logic.compute_capture_probability_ppb(3, 3_000)
    assert not resp.target_met  # 3 seats cannot meet a 1e-3 target at 30% adversarial stake


def test_params_target_is_met_with_enough_members_and_never_without_any() -> None:
    p = default_params()
    size = compute_params_response(p, 0).committee_size
    assert compute_params_response(p, size).target_met
    assert compute_params_response(p, size + 50).capture_probability_eligible_ppb == (
        compute_params_response(p, size).capture_probability_ppb
    )
    empty = compute_params_response(p, 0)
    assert (empty.capture_probability_eligible_ppb, empty.target_met) == (10**9, False)
    # A target no committee within the maximum reaches: the size is the maximum, the target unmet.
    strict = committee_pb2.Params()
    strict.CopyFrom(p)
    strict.max_committee_size = 5
    resp = compute_params_response(strict, 100)
    assert resp.committee_size == 5 and not resp.target_met


def test_members_in_operator_address_order() -> None:
    k, store = committee_state()
    resp = _ask(k, store, "Members", query_pb2.QueryMembersRequest(), query_pb2.QueryMembersResponse)
    assert [m.operator for m in resp.members] == sorted(OPERATORS, key=decode_address)
    assert all(m.since_height == 5 for m in resp.members)


def test_committee_with_its_commitments_and_attestations_and_a_clear_error_without_one() -> None:
    k, store = committee_state()
    req = query_pb2.QueryCommitteeRequest(task_id=1, round=2)
    resp = _ask(k, store, "Committee", req, query_pb2.QueryCommitteeResponse)
    assert list(resp.committee.workers) == WORKERS and resp.committee.seed == SEED
    assert [a.attester for a in resp.attestations] == [OPERATORS[0]]
    assert sorted(c.attester for c in resp.commitments) == sorted(OPERATORS[:2])
    page = query_pb2.QueryCommitteeRequest(task_id=1, round=2)
    page.pagination.limit = 1
    first = _ask(k, store, "Committee", page, query_pb2.QueryCommitteeResponse)
    page.pagination.key = first.pagination.next_key or b"\xff"
    later = _ask(k, store, "Committee", page, query_pb2.QueryCommitteeResponse)
    assert len(first.commitments) == 2 and not later.commitments  # on the first page only
    err = _fails(k, store, "Committee", query_pb2.QueryCommitteeRequest(task_id=1, round=3))
    assert ErrNoCommittee.is_(err) and "synod query task show 1" in str(err)


def test_scores_of_a_judged_round_and_not_before() -> None:
    k, store = committee_state()
    req = query_pb2.QueryScoresRequest(task_id=1, round=2)
    assert _ask(k, store, "Scores", req, query_pb2.QueryScoresResponse).scores == round_scores()
    k, store = committee_state(judged=False)
    err = _fails(k, store, "Scores", req)
    assert ErrNoScores.is_(err) and (err.codespace, err.code) == ("committee", 12)


def test_reputation_record_or_the_initial_reputation() -> None:
    k, store = committee_state()
    ask = lambda a: _ask(  # noqa: E731
        k,
        store,
        "Reputation",
        query_pb2.QueryReputationRequest(address=a),
        query_pb2.QueryReputationResponse,
    ).reputation
    assert (ask(WORKERS[0]).score_bps, ask(WORKERS[0]).observations) == (5_625, 1)
    fresh = ask(WORKERS[1])
    assert (fresh.address, fresh.score_bps, fresh.observations) == (WORKERS[1], 5_000, 0)
    err = _fails(k, store, "Reputation", query_pb2.QueryReputationRequest(address="synod1nope"))
    assert ErrInvalidAddress.is_(err) and "address" in str(err)


def test_seed_or_a_clear_error_before_the_first_beacon_output() -> None:
    k, store = committee_state()
    assert _ask(k, store, "Seed", query_pb2.QuerySeedRequest(), query_pb2.QuerySeedResponse).seed == SEED
    err = _fails(CommitteeKeeper(), Branch(MemoryReader()), "Seed", query_pb2.QuerySeedRequest())
    assert ErrNoSeed.is_(err) and "opt-in" in str(err)


def test_undecodable_query_data_is_refused_with_a_registered_code() -> None:
    from app.abci.query import answer_query
    from app.state.backend import MemoryBackend
    from app.state.store import CommitStore
    from tendermint.abci import types_pb2 as abci

    resp = answer_query(
        CommitStore(MemoryBackend()),
        abci.RequestQuery(path="/synod.committee.v1.Query/Scores", data=b"\xff\xff"),
    )
    assert (resp.codespace, resp.code) == ("sdk", ErrInvalidRequest.code) and "QueryScoresRequest" in resp.log


def test_abci_serves_every_committee_rpc_at_its_grpc_path() -> None:
    from app.abci.query import query_paths

    for method in (
        "Params",
        "Members",
        "Committee",
        "Scores",
        "Reputation",
        "Seed",
        "Dkg",
        "Dealings",
        "EpochSeed",
    ):
        assert f"/synod.committee.v1.Query/{method}" in query_paths()
