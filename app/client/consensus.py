"""Typed reads of the consensus module (prediction queries, rounds, settlements) over CometBFT's
abci_query, and the check that a query's inputs hash to what the chain recorded."""

from __future__ import annotations

import hashlib

from app.client.rpc import CometRPC
from synod.consensus.v1 import consensus_pb2, query_pb2

__all__ = ["ConsensusClient", "InputsMismatch", "check_inputs"]


class InputsMismatch(ValueError):
    """A query's inputs blob does not hash to the inputs_hash its query records on chain."""


def check_inputs(blob: bytes, query: consensus_pb2.Query, where: str) -> bytes:
    """Return blob if its SHA-256 is the query's inputs_hash, else raise InputsMismatch."""
    digest = hashlib.sha256(blob).digest()
    if digest != query.inputs_hash:
        raise InputsMismatch(
            f"the inputs of query {query.id} from {where} hash to {digest.hex()}, the query records "
            f"{query.inputs_hash.hex()}: the source served other inputs; do not predict on them"
        )
    return blob


class ConsensusClient:
    """Queries of the /consensus/* paths through one node's RPC."""

    def __init__(self, rpc: CometRPC) -> None:
        self.rpc = rpc

    def params(self) -> consensus_pb2.Params:
        """The module's limits, slashing rate and reputation settings."""
        req = query_pb2.QueryParamsRequest()
        return self.rpc.query_proto("/consensus/params", _bytes(req), query_pb2.QueryParamsResponse).params

    def query(self, query_id: int) -> query_pb2.QueryQueryResponse:
        """A query with the phase, round and phase end of the next block."""
        req = query_pb2.QueryQueryRequest(query_id=query_id)
        return self.rpc.query_proto("/consensus/query", _bytes(req), query_pb2.QueryQueryResponse)

    def answer(self, query_id: int) -> consensus_pb2.Settlement:
        """The settled answers of a query (and its labels and accuracy once revealed)."""
        req = query_pb2.QueryAnswerRequest(query_id=query_id)
        resp = self.rpc.query_proto("/consensus/answer", _bytes(req), query_pb2.QueryAnswerResponse)
        return resp.settlement

    def participants(self, query_id: int) -> list[consensus_pb2.Participant]:
        """Everyone registered for a query, with stake, reputation snapshot and outcome."""
        req = query_pb2.QueryParticipantsRequest(query_id=query_id)
        path = "/consensus/participants"
        return list(self.rpc.query_proto(path, _bytes(req), query_pb2.QueryParticipantsResponse).participants)

    def round(self, query_id: int, round_: int) -> query_pb2.QueryRoundResponse:
        """A round's state (tallies once its reveal phase ended) and the predictions revealed in it."""
        req = query_pb2.QueryRoundRequest(query_id=query_id, round=round_)
        return self.rpc.query_proto("/consensus/round", _bytes(req), query_pb2.QueryRoundResponse)

    def peers(self, query_id: int, round_: int, participant: str) -> list[consensus_pb2.Commitment]:
        """The peers a participant is shown after round_, with their revealed predictions."""
        req = query_pb2.QueryPeersRequest(query_id=query_id, round=round_, participant=participant)
        return list(self.rpc.query_proto("/consensus/peers", _bytes(req), query_pb2.QueryPeersResponse).peers)

    def models(self) -> list[consensus_pb2.EnsembleModel]:
        """The validators in the fast-path ensemble."""
        req = query_pb2.QueryModelsRequest()
        return list(
            self.rpc.query_proto("/consensus/models", _bytes(req), query_pb2.QueryModelsResponse).models
        )

    def pending(self) -> list[consensus_pb2.Query]:
        """Fast queries waiting for the validators' answers."""
        req = query_pb2.QueryPendingRequest()
        return list(
            self.rpc.query_proto("/consensus/pending", _bytes(req), query_pb2.QueryPendingResponse).queries
        )

    def reputation(self, address: str) -> consensus_pb2.ConsensusReputation:
        """An address's consensus reputation (the initial one when it has no record yet)."""
        req = query_pb2.QueryReputationRequest(address=address)
        path = "/consensus/reputation"
        return self.rpc.query_proto(path, _bytes(req), query_pb2.QueryReputationResponse).reputation


def _bytes(req: object) -> bytes:
    """A request's deterministic encoding (the app rejects non-canonical query data)."""
    return req.SerializeToString(deterministic=True)  # type: ignore[attr-defined]
