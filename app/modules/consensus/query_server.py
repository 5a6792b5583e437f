"""consensus queries over committed state: params, queries and their phase, answers, participants,
rounds, peer samples, ensemble models, pending fast queries and reputations.

Data of every path is a consensus.v1 Query*Request; the answer is the matching Query*Response.
"""

from __future__ import annotations

from collections.abc import Callable

from app.core.crypto import decode_address
from app.core.msgs import decode_address_field
from app.core.tx import parse_canonical
from app.modules.consensus import logic
from app.modules.consensus.errors import ErrNoRound, ErrNotSettled
from app.modules.consensus.keeper import ConsensusKeeper
from app.state.kv import KVReader
from synod.consensus.v1 import consensus_pb2, query_pb2

__all__ = ["routes"]

_TERMINAL_PHASE = {
    consensus_pb2.QUERY_STATUS_CLOSED: "closed",
    consensus_pb2.QUERY_STATUS_EXPIRED: "expired",
}


def _query(
    k: ConsensusKeeper, view: KVReader, req: query_pb2.QueryQueryRequest, height: int
) -> query_pb2.QueryQueryResponse:
    """A query and where it stands at the next block (the first one a new tx can land in)."""
    query = k.require_query(view, req.query_id)  # type: ignore[arg-type]
    resp = query_pb2.QueryQueryResponse(query=query)
    if query.status in _TERMINAL_PHASE:
        resp.phase, resp.round = _TERMINAL_PHASE[query.status], query.rounds
    elif query.status == consensus_pb2.QUERY_STATUS_SETTLED:
        resp.phase, resp.round = "settled", query.rounds
        resp.phase_end_height = logic.compute_label_deadline(query)
    elif query.fast:
        resp.phase = "pending"
        resp.phase_end_height = query.posted_height + k.get_params(view).fast_deadline_blocks  # type: ignore[arg-type]
    else:
        phase = logic.compute_phase(query, height + 1)
        resp.phase, resp.round, resp.phase_end_height = phase.name, phase.round, phase.end_height
    return resp


def _answer(
    k: ConsensusKeeper, view: KVReader, req: query_pb2.QueryAnswerRequest
) -> query_pb2.QueryAnswerResponse:
    """A query's settlement."""
    query = k.require_query(view, req.query_id)  # type: ignore[arg-type]
    settlement = k.get_settlement(view, query.id)  # type: ignore[arg-type]
    if settlement is None:
        raise ErrNotSettled.wrap(
            f"query {query.id} is {consensus_pb2.QueryStatus.Name(query.status)}: open queries settle in the "
            "end-block of their last reveal phase, fast ones once the validators answer"
        )
    return query_pb2.QueryAnswerResponse(settlement=settlement)


def _require_round(
    k: ConsensusKeeper, view: KVReader, query_id: int, round_: int
) -> consensus_pb2.RoundState:
    """A closed round's state, or the error that says when it will exist."""
    query = k.require_query(view, query_id)  # type: ignore[arg-type]
    state = k.get_round(view, query.id, round_)  # type: ignore[arg-type]
    if state is None:
        raise ErrNoRound.wrap(
            f"query {query.id} round {round_}: a round's state is recorded in the end-block of its reveal "
            f"phase (query {query.id} has rounds 0 to {query.rounds}; fast queries have none)"
        )
    return state


def _round(
    k: ConsensusKeeper, view: KVReader, req: query_pb2.QueryRoundRequest
) -> query_pb2.QueryRoundResponse:
    """A closed round's state and its revealed predictions."""
    state = _require_round(k, view, req.query_id, req.round)
    reveals = [c for _, c in k.iterate_commitments(view, req.query_id, req.round) if c.revealed]  # type: ignore[arg-type]
    return query_pb2.QueryRoundResponse(state=state, reveals=reveals)


def _peers(
    k: ConsensusKeeper, view: KVReader, req: query_pb2.QueryPeersRequest
) -> query_pb2.QueryPeersResponse:
    """The peers a participant is shown after a round (drawn from the round's seed) and their reveals."""
    participant = decode_address_field(req.participant, "participant")
    state = _require_round(k, view, req.query_id, req.round)
    query = k.require_query(view, req.query_id)  # type: ignore[arg-type]
    revealed = [decode_address(a) for a in state.revealed]
    peers = logic.compute_peers(state.seed, query.id, req.round, participant, revealed, query.peer_sample)
    return query_pb2.QueryPeersResponse(
        peers=[k.get_commitment(view, query.id, req.round, peer) for peer in peers]  # type: ignore[arg-type]
    )


def _participants(
    k: ConsensusKeeper, view: KVReader, req: query_pb2.QueryParticipantsRequest
) -> query_pb2.QueryParticipantsResponse:
    """A query's participants (a fast query's: the validators whose answers counted)."""
    query = k.require_query(view, req.query_id)  # type: ignore[arg-type]
    return query_pb2.QueryParticipantsResponse(
        participants=[p for _, p in k.iterate_participants(view, query.id)]
    )  # type: ignore[arg-type]


def _reputation(
    k: ConsensusKeeper, view: KVReader, req: query_pb2.QueryReputationRequest
) -> query_pb2.QueryReputationResponse:
    """An address's reputation; one with no record yet stands at the initial reputation."""
    address = decode_address_field(req.address, "address")
    record = k.get_reputation(view, address)  # type: ignore[arg-type]
    if record is None:
        initial = k.get_params(view).initial_reputation_bps  # type: ignore[arg-type]
        record = consensus_pb2.ConsensusReputation(address=req.address, score_bps=initial, observations=0)
    return query_pb2.QueryReputationResponse(reputation=record)


def routes(
    k: ConsensusKeeper, view: Callable[[], KVReader], height: Callable[[], int]
) -> dict[str, Callable[[bytes], bytes]]:
    """Query paths of the consensus module, each taking request bytes and returning response bytes."""

    def handler(request_cls: type, answer: Callable) -> Callable[[bytes], bytes]:
        def handle(data: bytes) -> bytes:
            req = parse_canonical(request_cls, data, "query data")
            return answer(req).SerializeToString(deterministic=True)

        return handle

    return {
        "/consensus/params": handler(
            query_pb2.QueryParamsRequest,
            lambda r: query_pb2.QueryParamsResponse(params=k.get_params(view())),  # type: ignore[arg-type]
        ),
        "/consensus/query": handler(query_pb2.QueryQueryRequest, lambda r: _query(k, view(), r, height())),
        "/consensus/answer": handler(query_pb2.QueryAnswerRequest, lambda r: _answer(k, view(), r)),
        "/consensus/participants": handler(
            query_pb2.QueryParticipantsRequest, lambda r: _participants(k, view(), r)
        ),
        "/consensus/round": handler(query_pb2.QueryRoundRequest, lambda r: _round(k, view(), r)),
        "/consensus/peers": handler(query_pb2.QueryPeersRequest, lambda r: _peers(k, view(), r)),
        "/consensus/models": handler(
            query_pb2.QueryModelsRequest,
            lambda r: query_pb2.QueryModelsResponse(models=[m for _, m in k.iterate_models(view())]),  # type: ignore[arg-type]
        ),
        "/consensus/pending": handler(
            query_pb2.QueryPendingRequest,
            lambda r: query_pb2.QueryPendingResponse(queries=k.iterate_pending_fast(view())),  # type: ignore[arg-type]
        ),
        "/consensus/reputation": handler(
            query_pb2.QueryReputationRequest, lambda r: _reputation(k, view(), r)
        ),
    }
