"""Typed reads of the committee module over CometBFT's abci_query, and the revealed updates and traces
a committee member scores, each checked against the hash its reveal put on chain."""

from __future__ import annotations

import hashlib

from app.client.rpc import CometRPC
from synod.committee.v1 import committee_pb2, query_pb2
from synod.tasks.v1 import query_pb2 as tasks_query
from synod.tasks.v1 import tasks_pb2

__all__ = ["CommitteeClient", "RevealMismatch"]


class RevealMismatch(ValueError):
    """A downloaded update or trace does not hash to what its reveal recorded on chain."""


class CommitteeClient:
    """Queries of /committee/* paths (and the revealed payloads) through one node's RPC."""

    def __init__(self, rpc: CometRPC) -> None:
        self.rpc = rpc

    def params(self) -> query_pb2.QueryParamsResponse:
        """Params with the committee size, capture probabilities and eligible members."""
        return self.rpc.query_proto("/committee/params", b"", query_pb2.QueryParamsResponse)

    def members(self) -> list[committee_pb2.Member]:
        """Every validator on committee duty, in operator address order."""
        return list(self.rpc.query_proto("/committee/members", b"", query_pb2.QueryMembersResponse).members)

    def committee(self, task_id: int, round_: int) -> query_pb2.QueryCommitteeResponse:
        """A (task, round) committee and the attestations received so far."""
        req = query_pb2.QueryCommitteeRequest(task_id=task_id, round=round_)
        return self.rpc.query_proto("/committee/committee", _bytes(req), query_pb2.QueryCommitteeResponse)

    def scores(self, task_id: int, round_: int) -> committee_pb2.RoundScores:
        """The judgement of a (task, round)."""
        req = query_pb2.QueryScoresRequest(task_id=task_id, round=round_)
        return self.rpc.query_proto("/committee/scores", _bytes(req), query_pb2.QueryScoresResponse).scores

    def reputation(self, address: str) -> committee_pb2.Reputation:
        """An address's reputation (the initial one when it has no record yet)."""
        req = query_pb2.QueryReputationRequest(address=address)
        resp = self.rpc.query_proto("/committee/reputation", _bytes(req), query_pb2.QueryReputationResponse)
        return resp.reputation

    def seed(self) -> committee_pb2.Seed:
        """The randomness beacon's latest output."""
        return self.rpc.query_proto("/committee/seed", b"", query_pb2.QuerySeedResponse).seed

    def revealed_update(self, task_id: int, round_: int, worker: str) -> tuple[tasks_pb2.Reveal, bytes]:
        """A worker's revealed update of the open round, checked against its reveal's update hash."""
        req = tasks_query.QueryUpdateRequest(task_id=task_id, round=round_, worker=worker)
        resp = self.rpc.query_proto("/tasks/update", _bytes(req), tasks_query.QueryUpdateResponse)
        _check(
            resp.update,
            resp.reveal.update_hash,
            f"the update of {worker} in round {round_} of task {task_id}",
        )
        return resp.reveal, resp.update

    def trace(self, task_id: int, round_: int, worker: str) -> tuple[tasks_pb2.Reveal, bytes]:
        """A worker's revealed training trace, checked against its reveal's trace hash."""
        req = tasks_query.QueryTraceRequest(task_id=task_id, round=round_, worker=worker)
        resp = self.rpc.query_proto("/tasks/trace", _bytes(req), tasks_query.QueryTraceResponse)
        _check(
            resp.trace, resp.reveal.trace_hash, f"the trace of {worker} in round {round_} of task {task_id}"
        )
        return resp.reveal, resp.trace


def _check(payload: bytes, expected: bytes, what: str) -> None:
    """Raise RevealMismatch unless payload hashes to expected."""
    digest = hashlib.sha256(payload).digest()
    if digest != expected:
        raise RevealMismatch(
            f"{what} hashes to {digest.hex()}, its reveal records {expected.hex()}; the node served "
            "corrupt data: ask another node (--node)"
        )


def _bytes(req: object) -> bytes:
    """A request's deterministic encoding (the app rejects non-canonical query data)."""
    return req.SerializeToString(deterministic=True)  # type: ignore[attr-defined]
