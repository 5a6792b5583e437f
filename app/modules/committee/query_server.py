"""committee queries: params with the capture numbers, members, committees and their attestations,
round scores, reputations and the beacon seed.

One pure answer per rpc of `synod.committee.v1.Query`, shared by gRPC, ABCI Query and the verifying
client; each reads full state keys through a StateReader and derives every field from them.
"""

from __future__ import annotations

from app.core.codec import from_u64be
from app.core.query import (
    MAX_PAGE_LIMIT,
    QueryService,
    StateReader,
    parse_address,
    read_message,
    require_message,
)
from app.modules.committee import keys, logic
from app.modules.committee.errors import ErrNoCommittee, ErrNoEpochSeed, ErrNoScores, ErrNoSeed
from app.modules.committee.params import default_params
from synod.base.v1 import pagination_pb2
from synod.committee.v1 import committee_pb2
from synod.committee.v1 import query_pb2 as q

__all__ = [
    "SERVICE",
    "answer_committee",
    "answer_dealings",
    "answer_dkg",
    "answer_epoch_seed",
    "answer_members",
    "answer_params",
    "answer_reputation",
    "answer_scores",
    "answer_seed",
    "compute_params_response",
]


def _key(table_key: bytes) -> bytes:
    """Full state key of a committee table key."""
    return keys.STORE_PREFIX + table_key


def _params(state: StateReader) -> committee_pb2.Params:
    """Stored params, or the defaults while none are stored."""
    params = read_message(state, _key(keys.PARAMS), committee_pb2.Params)
    return default_params() if params is None else params


def compute_params_response(params: committee_pb2.Params, eligible: int) -> q.QueryParamsResponse:
    """Params with the committee size they ask for and the capture probability it and `eligible` give."""
    size = logic.compute_committee_size(
        params.adversarial_stake_bps, params.capture_target_ppb, params.max_committee_size
    )
    # With fewer members than the target size a committee has only `eligible` seats (0: certain capture).
    at_eligible = logic.compute_capture_probability_ppb(min(size, eligible), params.adversarial_stake_bps)
    return q.QueryParamsResponse(
        params=params,
        committee_size=size,
        capture_probability_ppb=logic.compute_capture_probability_ppb(size, params.adversarial_stake_bps),
        eligible_members=eligible,
        capture_probability_eligible_ppb=at_eligible,
        target_met=at_eligible <= params.capture_target_ppb,
    )


def answer_params(state: StateReader, request: q.QueryParamsRequest) -> q.QueryParamsResponse:
    """Params, committee size and capture probabilities at the stored member count."""
    raw_count = state.get(_key(keys.MEMBER_COUNT))
    return compute_params_response(_params(state), from_u64be(raw_count) if raw_count else 0)


def answer_members(state: StateReader, request: q.QueryMembersRequest) -> q.QueryMembersResponse:
    """A page of the validators on committee duty, in operator address order."""
    items, page = state.page(_key(keys.MEMBER), request.pagination)
    return q.QueryMembersResponse(
        members=[committee_pb2.Member.FromString(raw) for _, raw in items], pagination=page
    )


def answer_committee(state: StateReader, request: q.QueryCommitteeRequest) -> q.QueryCommitteeResponse:
    """A (task, round) committee, every attestation commitment and a page of the attestations revealed
    so far (plaintext exists only after a reveal, so nothing here can be copied before one)."""
    committee = require_message(
        state,
        _key(keys.committee_key(request.task_id, request.round)),
        committee_pb2.Committee,
        ErrNoCommittee,
        f"task {request.task_id} round {request.round} has none: committees are sampled when the reveal "
        f"phase of a committee-verified round closes; check `synod query task show {request.task_id}`",
    )
    items, page = state.page(_key(keys.attestation_key(request.task_id, request.round)), request.pagination)
    # One commitment per seat at most, and max_committee_size <= MAX_PAGE_LIMIT: one read holds them
    # all. Only the first page carries them, so merged pages hold each once.
    commitments: list[tuple[bytes, bytes]] = []
    if not request.pagination.key:
        commitments, _ = state.page(
            _key(keys.attestation_commitment_key(request.task_id, request.round)),
            pagination_pb2.PageRequest(limit=MAX_PAGE_LIMIT),
        )
    return q.QueryCommitteeResponse(
        committee=committee,
        attestations=[committee_pb2.Attestation.FromString(raw) for _, raw in items],
        pagination=page,
        commitments=[committee_pb2.AttestationCommitment.FromString(raw) for _, raw in commitments],
    )


def answer_scores(state: StateReader, request: q.QueryScoresRequest) -> q.QueryScoresResponse:
    """The judgement of a (task, round)."""
    scores = require_message(
        state,
        _key(keys.scores_key(request.task_id, request.round)),
        committee_pb2.RoundScores,
        ErrNoScores,
        f"task {request.task_id} round {request.round}: rounds are judged in the end-block of their score "
        f"phase; wait for it (`synod query task show {request.task_id}`) or check the task is "
        "committee-verified",
    )
    return q.QueryScoresResponse(scores=scores)


def answer_reputation(state: StateReader, request: q.QueryReputationRequest) -> q.QueryReputationResponse:
    """An address's reputation; one with no record yet stands at the initial reputation."""
    address = parse_address(request.address, "address")
    record = read_message(state, _key(keys.reputation_key(address)), committee_pb2.Reputation)
    if record is None:
        initial = _params(state).initial_reputation_bps
        record = committee_pb2.Reputation(address=request.address, score_bps=initial, observations=0)
    return q.QueryReputationResponse(reputation=record)


def answer_seed(state: StateReader, request: q.QuerySeedRequest) -> q.QuerySeedResponse:
    """The randomness beacon's latest output."""
    seed = require_message(
        state,
        _key(keys.SEED),
        committee_pb2.Seed,
        ErrNoSeed,
        "the beacon has produced no output yet: it starts once vote extensions are enabled and "
        "validators opt in with `synod tx committee opt-in`",
    )
    return q.QuerySeedResponse(seed=seed)


def answer_dkg(state: StateReader, request: q.QueryDkgRequest) -> q.QueryDkgResponse:
    """The DKG in progress and the latest two groups (each unset where there is none)."""
    resp = q.QueryDkgResponse()
    for field, key, cls in (
        ("dkg", keys.DKG, committee_pb2.Dkg),
        ("group", keys.GROUP, committee_pb2.Group),
        ("previous_group", keys.PREVIOUS_GROUP, committee_pb2.Group),
    ):
        value = read_message(state, _key(key), cls)
        if value is not None:
            getattr(resp, field).CopyFrom(value)
    return resp


def answer_dealings(state: StateReader, request: q.QueryDealingsRequest) -> q.QueryDealingsResponse:
    """A page of a DKG's dealings, the first page of its complaints (in dealer order), and the DKG
    in progress (which tells a reader the members' indices and the phase heights)."""
    items, page = state.page(_key(keys.dealing_key(request.dkg_id)), request.pagination)
    complaints, _ = state.page(_key(keys.complaint_key(request.dkg_id)), pagination_pb2.PageRequest())
    resp = q.QueryDealingsResponse(
        dealings=[committee_pb2.Dealing.FromString(raw) for _, raw in items],
        complaints=[committee_pb2.Complaint.FromString(raw) for _, raw in complaints],
        pagination=page,
    )
    dkg = read_message(state, _key(keys.DKG), committee_pb2.Dkg)
    if dkg is not None:
        resp.dkg.CopyFrom(dkg)
    return resp


def answer_epoch_seed(state: StateReader, request: q.QueryEpochSeedRequest) -> q.QueryEpochSeedResponse:
    """The group seed of one epoch."""
    seed = require_message(
        state,
        _key(keys.epoch_seed_key(request.epoch)),
        committee_pb2.Seed,
        ErrNoEpochSeed,
        f"epoch {request.epoch} has no group seed: it appears once t + 1 group members' shares reach "
        "a block after the epoch starts (`synod query committee dkg` shows the group)",
    )
    return q.QueryEpochSeedResponse(seed=seed)


SERVICE = QueryService(
    "committee",
    q.DESCRIPTOR.services_by_name["Query"],
    {
        "Params": answer_params,
        "Members": answer_members,
        "Committee": answer_committee,
        "Scores": answer_scores,
        "Reputation": answer_reputation,
        "Seed": answer_seed,
        "Dkg": answer_dkg,
        "Dealings": answer_dealings,
        "EpochSeed": answer_epoch_seed,
    },
)
