"""Typed reads of the consensus module (prediction queries, rounds, settlements) over any Querier,
and the check that a query's inputs hash to what the chain recorded."""

from __future__ import annotations

import hashlib

from app.client.querier import QuerySource, as_querier
from synod.consensus.v1 import consensus_pb2
from synod.consensus.v1 import query_pb2 as q

__all__ = ["ConsensusClient", "InputsMismatch", "check_inputs"]


class InputsMismatch(ValueError):
    """A query's inputs blob does not hash to the inputs_hash its query records on chain."""


def check_inputs(blob: bytes, query: consensus_pb2.PredictionQuery, where: str) -> bytes:
    """Return blob if its SHA-256 is the query's inputs_hash, else raise InputsMismatch."""
    digest = hashlib.sha256(blob).digest()
    if digest != query.inputs_hash:
        raise InputsMismatch(
            f"the inputs of query {query.id} from {where} hash to {digest.hex()}, the query records "
            f"{query.inputs_hash.hex()}: the source served other inputs; do not predict on them"
        )
    return blob


class ConsensusClient:
    """Queries of `synod.consensus.v1.Query` through one querier (an RPC client means abci_query)."""

    def __init__(self, source: QuerySource) -> None:
        self.querier = as_querier(source)

    def params(self) -> consensus_pb2.Params:
        """The module's limits, slashing rate and reputation settings."""
        return self.querier.ask("consensus", "Params", q.QueryParamsRequest()).params

    def query(self, query_id: int) -> q.QueryQueryResponse:
        """A query with the phase, round and phase end of the next block."""
        return self.querier.ask("consensus", "Query", q.QueryQueryRequest(query_id=query_id))

    def queries(self) -> list[consensus_pb2.PredictionQuery]:
        """Every prediction query, in id order."""
        return list(self.querier.ask_all("consensus", "Queries", q.QueryQueriesRequest()).queries)

    def answer(self, query_id: int) -> consensus_pb2.Settlement:
        """The settled answers of a query (and its labels and accuracy once revealed)."""
        return self.querier.ask("consensus", "Answer", q.QueryAnswerRequest(query_id=query_id)).settlement

    def participants(self, query_id: int) -> list[consensus_pb2.Participant]:
        """Everyone registered for a query, with stake, reputation snapshot and outcome."""
        req = q.QueryParticipantsRequest(query_id=query_id)
        return list(self.querier.ask_all("consensus", "Participants", req).participants)

    def round(self, query_id: int, round_: int) -> q.QueryRoundResponse:
        """A round's state (tallies once its reveal phase ended) and the predictions revealed in it."""
        return self.querier.ask_all(
            "consensus", "Round", q.QueryRoundRequest(query_id=query_id, round=round_)
        )

    def peers(self, query_id: int, round_: int, participant: str) -> list[consensus_pb2.Commitment]:
        """The peers a participant is shown after round_, with their revealed predictions."""
        req = q.QueryPeersRequest(query_id=query_id, round=round_, participant=participant)
        return list(self.querier.ask("consensus", "Peers", req).peers)

    def models(self) -> list[consensus_pb2.EnsembleModel]:
        """The validators in the fast-path ensemble."""
        return list(self.querier.ask_all("consensus", "Models", q.QueryModelsRequest()).models)

    def pending(self) -> list[consensus_pb2.PredictionQuery]:
        """Fast queries waiting for the validators' answers."""
        return list(self.querier.ask_all("consensus", "Pending", q.QueryPendingRequest()).queries)

    def reputation(self, address: str) -> consensus_pb2.ConsensusReputation:
        """An address's consensus reputation (the initial one when it has no record yet)."""
        return self.querier.ask(
            "consensus", "Reputation", q.QueryReputationRequest(address=address)
        ).reputation
