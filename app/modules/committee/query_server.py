"""committee queries over committed state: params with the capture numbers, members, committees,
round scores, reputations and the beacon seed.

Data of every path is a committee.v1 Query*Request; the answer is the matching Query*Response.
"""

from __future__ import annotations

from collections.abc import Callable

from app.core.msgs import decode_address_field
from app.core.tx import parse_canonical
from app.modules.committee import logic
from app.modules.committee.errors import ErrNoCommittee, ErrNoScores, ErrNoSeed
from app.modules.committee.keeper import CommitteeKeeper
from app.state.kv import KVReader
from synod.committee.v1 import committee_pb2, query_pb2

__all__ = ["compute_params_response", "routes"]


def compute_params_response(params: committee_pb2.Params, eligible: int) -> query_pb2.QueryParamsResponse:
    """Params with the committee size they ask for and the capture probability it and `eligible` give."""
    size = logic.compute_committee_size(
        params.adversarial_stake_bps, params.capture_target_ppb, params.max_committee_size
    )
    # With fewer members than the target size a committee has only `eligible` seats (0: certain capture).
    at_eligible = logic.compute_capture_probability_ppb(min(size, eligible), params.adversarial_stake_bps)
    return query_pb2.QueryParamsResponse(
        params=params,
        committee_size=size,
        capture_probability_ppb=logic.compute_capture_probability_ppb(size, params.adversarial_stake_bps),
        eligible_members=eligible,
        capture_probability_eligible_ppb=at_eligible,
        target_met=at_eligible <= params.capture_target_ppb,
    )


def _params(k: CommitteeKeeper, view: KVReader) -> query_pb2.QueryParamsResponse:
    """Params, committee size and capture probabilities as of committed state."""
    eligible = sum(1 for _ in k.iterate_members(view))  # type: ignore[arg-type]
    return compute_params_response(k.get_params(view), eligible)  # type: ignore[arg-type]


def _committee(
    k: CommitteeKeeper, view: KVReader, req: query_pb2.QueryCommitteeRequest
) -> query_pb2.QueryCommitteeResponse:
    """A (task, round) committee and the attestations received so far."""
    committee = k.get_committee(view, req.task_id, req.round)  # type: ignore[arg-type]
    if committee is None:
        raise ErrNoCommittee.wrap(
            f"task {req.task_id} round {req.round} has none: committees are sampled when the reveal phase "
            f"of a committee-verified round closes; check `synod query task show {req.task_id}`"
        )
    attestations = [a for _, a in k.iterate_attestations(view, req.task_id, req.round)]  # type: ignore[arg-type]
    return query_pb2.QueryCommitteeResponse(committee=committee, attestations=attestations)


def _scores(
    k: CommitteeKeeper, view: KVReader, req: query_pb2.QueryScoresRequest
) -> query_pb2.QueryScoresResponse:
    """The judgement of a (task, round)."""
    scores = k.get_scores(view, req.task_id, req.round)  # type: ignore[arg-type]
    if scores is None:
        raise ErrNoScores.wrap(
            f"task {req.task_id} round {req.round}: rounds are judged in the end-block of their score phase; "
            f"wait for it (`synod query task show {req.task_id}`) or check the task is committee-verified"
        )
    return query_pb2.QueryScoresResponse(scores=scores)


def _reputation(
    k: CommitteeKeeper, view: KVReader, req: query_pb2.QueryReputationRequest
) -> query_pb2.QueryReputationResponse:
    """An address's reputation; one with no record yet stands at the initial reputation."""
    address = decode_address_field(req.address, "address")
    record = k.get_reputation(view, address)  # type: ignore[arg-type]
    if record is None:
        initial = k.get_params(view).initial_reputation_bps  # type: ignore[arg-type]
        record = committee_pb2.Reputation(address=req.address, score_bps=initial, observations=0)
    return query_pb2.QueryReputationResponse(reputation=record)


def _seed(k: CommitteeKeeper, view: KVReader) -> query_pb2.QuerySeedResponse:
    """The randomness beacon's latest output."""
    seed = k.get_seed(view)  # type: ignore[arg-type]
    if seed is None:
        raise ErrNoSeed.wrap(
            "the beacon has produced no output yet: it starts once vote extensions are enabled and "
            "validators opt in with `synod tx committee opt-in`"
        )
    return query_pb2.QuerySeedResponse(seed=seed)


def routes(k: CommitteeKeeper, view: Callable[[], KVReader]) -> dict[str, Callable[[bytes], bytes]]:
    """Query paths of the committee module, each taking request bytes and returning response bytes."""

    def handler(request_cls: type, answer: Callable) -> Callable[[bytes], bytes]:
        def handle(data: bytes) -> bytes:
            req = parse_canonical(request_cls, data, "query data")
            return answer(req).SerializeToString(deterministic=True)

        return handle

    return {
        "/committee/params": handler(query_pb2.QueryParamsRequest, lambda r: _params(k, view())),
        "/committee/members": handler(
            query_pb2.QueryMembersRequest,
            lambda r: query_pb2.QueryMembersResponse(members=[m for _, m in k.iterate_members(view())]),  # type: ignore[arg-type]
        ),
        "/committee/committee": handler(query_pb2.QueryCommitteeRequest, lambda r: _committee(k, view(), r)),
        "/committee/scores": handler(query_pb2.QueryScoresRequest, lambda r: _scores(k, view(), r)),
        "/committee/reputation": handler(
            query_pb2.QueryReputationRequest, lambda r: _reputation(k, view(), r)
        ),
        "/committee/seed": handler(query_pb2.QuerySeedRequest, lambda r: _seed(k, view())),
    }
