"""Typed reads of the committee module over any Querier, and the revealed updates and traces a
committee member scores, each checked against the hash its reveal put on chain."""

from __future__ import annotations

import hashlib

from app.client.querier import QuerySource, as_querier
from app.client.tasks import TasksClient
from synod.committee.v1 import committee_pb2
from synod.committee.v1 import query_pb2 as q
from synod.tasks.v1 import tasks_pb2

__all__ = ["CommitteeClient", "RevealMismatch"]


class RevealMismatch(ValueError):
    """A downloaded update or trace does not hash to what its reveal recorded on chain."""


class CommitteeClient:
    """Queries of `synod.committee.v1.Query` (and the revealed payloads) through one querier."""

    def __init__(self, source: QuerySource) -> None:
        self.querier = as_querier(source)
        self._tasks = TasksClient(self.querier)

    def params(self) -> q.QueryParamsResponse:
        """Params with the committee size, capture probabilities and eligible members."""
        return self.querier.ask("committee", "Params", q.QueryParamsRequest())

    def members(self) -> list[committee_pb2.Member]:
        """Every validator on committee duty, in operator address order."""
        return list(self.querier.ask_all("committee", "Members", q.QueryMembersRequest()).members)

    def committee(self, task_id: int, round_: int) -> q.QueryCommitteeResponse:
        """A (task, round) committee and every attestation received so far."""
        return self.querier.ask_all(
            "committee", "Committee", q.QueryCommitteeRequest(task_id=task_id, round=round_)
        )

    def scores(self, task_id: int, round_: int) -> committee_pb2.RoundScores:
        """The judgement of a (task, round)."""
        return self.querier.ask(
            "committee", "Scores", q.QueryScoresRequest(task_id=task_id, round=round_)
        ).scores

    def reputation(self, address: str) -> committee_pb2.Reputation:
        """An address's reputation (the initial one when it has no record yet)."""
        return self.querier.ask(
            "committee", "Reputation", q.QueryReputationRequest(address=address)
        ).reputation

    def seed(self) -> committee_pb2.Seed:
        """The randomness beacon's latest output."""
        return self.querier.ask("committee", "Seed", q.QuerySeedRequest()).seed

    def dkg(self) -> q.QueryDkgResponse:
        """The DKG in progress and the latest two threshold groups."""
        return self.querier.ask("committee", "Dkg", q.QueryDkgRequest())

    def epoch_seed(self, epoch: int) -> committee_pb2.Seed:
        """The group seed of one beacon epoch."""
        return self.querier.ask("committee", "EpochSeed", q.QueryEpochSeedRequest(epoch=epoch)).seed

    def revealed_update(self, task_id: int, round_: int, worker: str) -> tuple[tasks_pb2.Reveal, bytes]:
        """A worker's revealed update of the open round, checked against its reveal's update hash."""
        resp = self._tasks.update(task_id, round_, worker)
        _check(
            resp.update,
            resp.reveal.update_hash,
            f"the update of {worker} in round {round_} of task {task_id}",
        )
        return resp.reveal, resp.update

    def trace(self, task_id: int, round_: int, worker: str) -> tuple[tasks_pb2.Reveal, bytes]:
        """A worker's revealed training trace, checked against its reveal's trace hash."""
        resp = self._tasks.trace(task_id, round_, worker)
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
