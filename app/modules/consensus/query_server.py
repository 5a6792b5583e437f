"""consensus queries: params, queries and their phase, answers, participants, rounds, peer samples,
ensemble models, pending fast queries and reputations.

One pure answer per rpc of `synod.consensus.v1.Query`, shared by gRPC, ABCI Query and the verifying
client; each reads full state keys through a StateReader and derives every field from them (a
query's phase from the query, the params and the reader's height).
"""

from __future__ import annotations

from app.core.codec import from_u64be
from app.core.crypto import decode_address
from app.core.query import QueryService, StateReader, parse_address, read_message, require_message
from app.modules.consensus import keys, logic
from app.modules.consensus.errors import ErrNoRound, ErrNotSettled, ErrQueryNotFound
from app.modules.consensus.params import default_params
from synod.consensus.v1 import consensus_pb2
from synod.consensus.v1 import query_pb2 as q

__all__ = [
    "SERVICE",
    "answer_answer",
    "answer_models",
    "answer_params",
    "answer_participants",
    "answer_peers",
    "answer_pending",
    "answer_queries",
    "answer_query",
    "answer_reputation",
    "answer_round",
]

_TERMINAL_PHASE = {
    consensus_pb2.QUERY_STATUS_CLOSED: "closed",
    consensus_pb2.QUERY_STATUS_EXPIRED: "expired",
}


def _key(table_key: bytes) -> bytes:
    """Full state key of a consensus table key."""
    return keys.STORE_PREFIX + table_key


def _params(state: StateReader) -> consensus_pb2.Params:
    """Stored params, or the defaults while none are stored."""
    params = read_message(state, _key(keys.PARAMS), consensus_pb2.Params)
    return default_params() if params is None else params


def _require_query(state: StateReader, query_id: int) -> consensus_pb2.PredictionQuery:
    """The query, or ErrQueryNotFound."""
    return require_message(
        state,
        _key(keys.query_key(query_id)),
        consensus_pb2.PredictionQuery,
        ErrQueryNotFound,
        f"no query with id {query_id}; ids start at 1 and count up",
    )


def answer_params(state: StateReader, request: q.QueryParamsRequest) -> q.QueryParamsResponse:
    """Params; the defaults apply while none are stored."""
    return q.QueryParamsResponse(params=_params(state))


def answer_query(state: StateReader, request: q.QueryQueryRequest) -> q.QueryQueryResponse:
    """A query and where it stands at the next block (the first one a new tx can land in)."""
    query = _require_query(state, request.query_id)
    resp = q.QueryQueryResponse(query=query)
    if query.status in _TERMINAL_PHASE:
        resp.phase, resp.round = _TERMINAL_PHASE[query.status], query.rounds
    elif query.status == consensus_pb2.QUERY_STATUS_SETTLED:
        resp.phase, resp.round = "settled", query.rounds
        resp.phase_end_height = logic.compute_label_deadline(query)
    elif query.fast:
        resp.phase = "pending"
        resp.phase_end_height = query.posted_height + _params(state).fast_deadline_blocks
    else:
        phase = logic.compute_phase(query, state.height + 1)
        resp.phase, resp.round, resp.phase_end_height = phase.name, phase.round, phase.end_height
    return resp


def answer_queries(state: StateReader, request: q.QueryQueriesRequest) -> q.QueryQueriesResponse:
    """A page of prediction queries in id order."""
    items, page = state.page(_key(keys.QUERY), request.pagination)
    return q.QueryQueriesResponse(
        queries=[consensus_pb2.PredictionQuery.FromString(raw) for _, raw in items], pagination=page
    )


def answer_answer(state: StateReader, request: q.QueryAnswerRequest) -> q.QueryAnswerResponse:
    """A query's settlement."""
    query = _require_query(state, request.query_id)
    settlement = read_message(state, _key(keys.settlement_key(query.id)), consensus_pb2.Settlement)
    if settlement is None:
        raise ErrNotSettled.wrap(
            f"query {query.id} is {consensus_pb2.QueryStatus.Name(query.status)}: open queries settle in the "
            "end-block of their last reveal phase, fast ones once the validators answer"
        )
    return q.QueryAnswerResponse(settlement=settlement)


def answer_participants(
    state: StateReader, request: q.QueryParticipantsRequest
) -> q.QueryParticipantsResponse:
    """A page of a query's participants (a fast query's: the validators whose answers counted)."""
    query = _require_query(state, request.query_id)
    items, page = state.page(_key(keys.participant_key(query.id)), request.pagination)
    return q.QueryParticipantsResponse(
        participants=[consensus_pb2.Participant.FromString(raw) for _, raw in items], pagination=page
    )


def _require_round(
    state: StateReader, query: consensus_pb2.PredictionQuery, round_: int
) -> consensus_pb2.RoundState:
    """A closed round's state, or the error that says when it will exist."""
    return require_message(
        state,
        _key(keys.round_key(query.id, round_)),
        consensus_pb2.RoundState,
        ErrNoRound,
        f"query {query.id} round {round_}: a round's state is recorded in the end-block of its reveal "
        f"phase (query {query.id} has rounds 0 to {query.rounds}; fast queries have none)",
    )


def answer_round(state: StateReader, request: q.QueryRoundRequest) -> q.QueryRoundResponse:
    """A closed round's state and the revealed predictions among a page of its commitments."""
    round_state = _require_round(state, _require_query(state, request.query_id), request.round)
    items, page = state.page(_key(keys.commitment_key(request.query_id, request.round)), request.pagination)
    commitments = (consensus_pb2.Commitment.FromString(raw) for _, raw in items)
    return q.QueryRoundResponse(
        state=round_state, reveals=[c for c in commitments if c.revealed], pagination=page
    )


def answer_peers(state: StateReader, request: q.QueryPeersRequest) -> q.QueryPeersResponse:
    """The peers a participant is shown after a round (drawn from the round's seed) and their reveals."""
    participant = parse_address(request.participant, "participant")
    query = _require_query(state, request.query_id)
    round_state = _require_round(state, query, request.round)
    revealed = [decode_address(a) for a in round_state.revealed]
    peers = logic.compute_peers(
        round_state.seed, query.id, request.round, participant, revealed, query.peer_sample
    )
    resp = q.QueryPeersResponse()
    for peer in peers:
        commitment = read_message(
            state, _key(keys.commitment_key(query.id, request.round, peer)), consensus_pb2.Commitment
        )
        if commitment is not None:
            resp.peers.append(commitment)
    return resp


def answer_models(state: StateReader, request: q.QueryModelsRequest) -> q.QueryModelsResponse:
    """A page of the fast-path ensemble's models in operator order."""
    items, page = state.page(_key(keys.model_key()), request.pagination)
    return q.QueryModelsResponse(
        models=[consensus_pb2.EnsembleModel.FromString(raw) for _, raw in items], pagination=page
    )


def answer_pending(state: StateReader, request: q.QueryPendingRequest) -> q.QueryPendingResponse:
    """A page of the fast queries awaiting the validators' answers, in id order."""
    prefix = _key(keys.pending_key())
    items, page = state.page(prefix, request.pagination)
    return q.QueryPendingResponse(
        queries=[_require_query(state, from_u64be(key[len(prefix) :])) for key, _ in items], pagination=page
    )


def answer_reputation(state: StateReader, request: q.QueryReputationRequest) -> q.QueryReputationResponse:
    """An address's reputation; one with no record yet stands at the initial reputation."""
    address = parse_address(request.address, "address")
    record = read_message(state, _key(keys.reputation_key(address)), consensus_pb2.ConsensusReputation)
    if record is None:
        initial = _params(state).initial_reputation_bps
        record = consensus_pb2.ConsensusReputation(address=request.address, score_bps=initial, observations=0)
    return q.QueryReputationResponse(reputation=record)


SERVICE = QueryService(
    "consensus",
    q.DESCRIPTOR.services_by_name["Query"],
    {
        "Params": answer_params,
        "Query": answer_query,
        "Queries": answer_queries,
        "Answer": answer_answer,
        "Participants": answer_participants,
        "Round": answer_round,
        "Peers": answer_peers,
        "Models": answer_models,
        "Pending": answer_pending,
        "Reputation": answer_reputation,
    },
    # A participant sees query.peer_sample peers, which msg_server caps at params.max_peer_sample.
    bounded_lists=frozenset({"Peers"}),
)
