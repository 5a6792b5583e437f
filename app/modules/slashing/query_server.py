"""slashing queries: signing infos, evidence and params (shared by server and verifying client)."""

from __future__ import annotations

from app.core.query import QueryService, StateReader, parse_consensus_address
from app.modules.slashing import keys
from app.modules.slashing.params import default_params
from synod.slashing.v1 import query_pb2 as q
from synod.slashing.v1 import slashing_pb2

__all__ = ["SERVICE", "answer_evidence", "answer_params", "answer_signing_info", "answer_signing_infos"]


def _key(table_key: bytes) -> bytes:
    """Full state key of a slashing table key."""
    return keys.STORE_PREFIX + table_key


def answer_signing_info(state: StateReader, request: q.QuerySigningInfoRequest) -> q.QuerySigningInfoResponse:
    """One liveness record, or none (absent)."""
    raw = state.get(_key(keys.signing_info_key(parse_consensus_address(request.consensus_address))))
    response = q.QuerySigningInfoResponse()
    if raw is not None:
        response.info.ParseFromString(raw)
    return response


def answer_signing_infos(
    state: StateReader, request: q.QuerySigningInfosRequest
) -> slashing_pb2.QuerySigningInfosResponse:
    """A page of liveness records in consensus-address order."""
    items, page = state.page(_key(keys.SIGNING_INFO), request.pagination)
    return slashing_pb2.QuerySigningInfosResponse(
        infos=[slashing_pb2.SigningInfo.FromString(raw) for _, raw in items], pagination=page
    )


def answer_evidence(
    state: StateReader, request: q.QueryEvidenceRequest
) -> slashing_pb2.QueryEvidenceResponse:
    """A page of handled evidence by infraction height."""
    items, page = state.page(_key(keys.EVIDENCE), request.pagination)
    return slashing_pb2.QueryEvidenceResponse(
        evidence=[slashing_pb2.Evidence.FromString(raw) for _, raw in items], pagination=page
    )


def answer_params(state: StateReader, request: q.QueryParamsRequest) -> slashing_pb2.QueryParamsResponse:
    """Params; the defaults apply while none are stored."""
    raw = state.get(_key(keys.PARAMS))
    return slashing_pb2.QueryParamsResponse(
        params=default_params() if raw is None else slashing_pb2.Params.FromString(raw)
    )


SERVICE = QueryService(
    "slashing",
    q.DESCRIPTOR.services_by_name["Query"],
    {
        "SigningInfo": answer_signing_info,
        "SigningInfos": answer_signing_infos,
        "Evidence": answer_evidence,
        "Params": answer_params,
    },
)
