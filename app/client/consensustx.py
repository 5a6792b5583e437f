"""Build consensus-module messages (off-chain: CLI, predictor agent, tests).

A poster opens a query with MsgPostQuery (escrowing the reward, optionally committing to the true
labels with compute_labels_commitment, bound to the poster and the inputs) and reveals the labels
with MsgRevealLabels after settlement. A participant registers in round 0's commit phase
(MsgRegister, escrowing its stake), then each round commits to compute_commitment (bound to its
address, the query and the round, so no one else can reveal against it) and reveals the
predictions with the same salt. A validator joins the fast-path ensemble with MsgRegisterModel.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.crypto import decode_address
from app.modules.consensus.logic import compute_commitment
from synod.base.v1 import coin_pb2
from synod.consensus.v1 import tx_pb2

__all__ = [
    "SALT_LEN",
    "QuerySpec",
    "msg_commit_predictions",
    "msg_post_query",
    "msg_register",
    "msg_register_model",
    "msg_reveal_labels",
    "msg_reveal_predictions",
]

SALT_LEN = 32


@dataclass(frozen=True)
class QuerySpec:
    """What MsgPostQuery asks for, apart from the poster and the inputs."""

    label_count: int
    reward: coin_pb2.Coin
    min_stake: coin_pb2.Coin
    description: str = ""
    rounds: int = 2
    peer_sample: int = 3
    commit_blocks: int = 3
    reveal_blocks: int = 3
    label_blocks: int = 20
    max_participants: int = 0
    fast: bool = False


def msg_post_query(
    poster: str,
    spec: QuerySpec,
    input_count: int,
    inputs_hash: bytes,
    inputs: bytes = b"",
    inputs_uri: str = "",
    labels_commitment: bytes = b"",
) -> tx_pb2.MsgPostQuery:
    """Open a query on inline inputs (or on inputs_uri with inputs empty); a fast query has no rounds."""
    return tx_pb2.MsgPostQuery(
        poster=poster,
        description=spec.description,
        input_count=input_count,
        label_count=spec.label_count,
        inputs=inputs,
        inputs_uri=inputs_uri,
        inputs_hash=inputs_hash,
        rounds=0 if spec.fast else spec.rounds,
        peer_sample=spec.peer_sample,
        min_stake=spec.min_stake,
        reward=spec.reward,
        commit_blocks=spec.commit_blocks,
        reveal_blocks=spec.reveal_blocks,
        label_blocks=spec.label_blocks,
        labels_commitment=labels_commitment,
        fast=spec.fast,
        max_participants=spec.max_participants,
    )


def msg_register(participant: str, query_id: int, stake: coin_pb2.Coin) -> tx_pb2.MsgRegister:
    """Join an open query in round 0's commit phase, escrowing stake (at least its min_stake)."""
    return tx_pb2.MsgRegister(participant=participant, query_id=query_id, stake=stake)


def msg_commit_predictions(
    participant: str, query_id: int, round_: int, salt: bytes, predictions: bytes
) -> tx_pb2.MsgCommitPredictions:
    """Commit to encoded predictions (logic.encode_predictions) without showing them."""
    return tx_pb2.MsgCommitPredictions(
        participant=participant,
        query_id=query_id,
        round=round_,
        commitment=compute_commitment(decode_address(participant), query_id, round_, salt, predictions),
    )


def msg_reveal_predictions(
    participant: str, query_id: int, round_: int, salt: bytes, predictions: bytes
) -> tx_pb2.MsgRevealPredictions:
    """Reveal the predictions committed to in round_, with the commitment's salt."""
    return tx_pb2.MsgRevealPredictions(
        participant=participant, query_id=query_id, round=round_, predictions=predictions, salt=salt
    )


def msg_reveal_labels(poster: str, query_id: int, labels: bytes, salt: bytes) -> tx_pb2.MsgRevealLabels:
    """Reveal a settled query's true labels (one byte per input) and the salt of their commitment."""
    return tx_pb2.MsgRevealLabels(poster=poster, query_id=query_id, labels=labels, salt=salt)


def msg_register_model(operator: str, model: str) -> tx_pb2.MsgRegisterModel:
    """Enrol a validator's model in the fast-path ensemble (an empty description leaves it)."""
    return tx_pb2.MsgRegisterModel(operator=operator, model=model)
