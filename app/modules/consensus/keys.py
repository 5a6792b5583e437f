"""consensus store keys: module prefix 0x07, then one-byte tables (big-endian integers)."""

from __future__ import annotations

from app.core.codec import u64be

__all__ = [
    "STORE_PREFIX",
    "PARAMS",
    "QUERY",
    "NEXT_QUERY_ID",
    "PARTICIPANT",
    "COMMITMENT",
    "ROUND",
    "SETTLEMENT",
    "MODEL",
    "REPUTATION",
    "SCHEDULE",
    "PENDING",
    "TABLES",
    "query_key",
    "participant_key",
    "commitment_key",
    "round_key",
    "settlement_key",
    "model_key",
    "reputation_key",
    "schedule_key",
    "pending_key",
    "progress_key",
]

STORE_PREFIX = b"\x07"

PARAMS = b"\x00"  # -> consensus.v1.Params
QUERY = b"\x01"  # + query id(8) -> consensus.v1.Query
NEXT_QUERY_ID = b"\x02"  # -> u64be
PARTICIPANT = b"\x03"  # + query id(8) + address(20) -> consensus.v1.Participant
COMMITMENT = b"\x04"  # + query id(8) + round(4) + address(20) -> consensus.v1.Commitment (kept)
ROUND = b"\x05"  # + query id(8) + round(4) -> consensus.v1.RoundState (kept)
SETTLEMENT = b"\x06"  # + query id(8) -> consensus.v1.Settlement
MODEL = b"\x07"  # + operator(20) -> consensus.v1.EnsembleModel
REPUTATION = b"\x08"  # + address(20) -> consensus.v1.ConsensusReputation
SCHEDULE = b"\x09"  # + height(8) + query id(8) -> b"": the end-block of height has work for the query
PENDING = b"\x0a"  # + query id(8) -> b"": a fast query still waiting for the validators' answers
PROGRESS = b"\x0b"  # + query id(8) -> consensus.v1.QueryProgress (while the query is open)

TABLES = {
    "params": PARAMS,
    "query": QUERY,
    "next_query_id": NEXT_QUERY_ID,
    "participant": PARTICIPANT,
    "commitment": COMMITMENT,
    "round": ROUND,
    "settlement": SETTLEMENT,
    "model": MODEL,
    "reputation": REPUTATION,
    "schedule": SCHEDULE,
    "pending": PENDING,
    "progress": PROGRESS,
}


def _u32be(n: int) -> bytes:
    """A round number as 4 big-endian bytes."""
    return n.to_bytes(4, "big")


def query_key(query_id: int) -> bytes:
    """Key of one query."""
    return QUERY + u64be(query_id)


def participant_key(query_id: int, address: bytes = b"") -> bytes:
    """Key of one participant, or (no address) the prefix of a query's participants."""
    return PARTICIPANT + u64be(query_id) + address


def commitment_key(query_id: int, round_: int, address: bytes = b"") -> bytes:
    """Key of one commitment, or (no address) the prefix of a round's commitments."""
    return COMMITMENT + u64be(query_id) + _u32be(round_) + address


def round_key(query_id: int, round_: int) -> bytes:
    """Key of one round's state (the network's view after its reveal phase)."""
    return ROUND + u64be(query_id) + _u32be(round_)


def settlement_key(query_id: int) -> bytes:
    """Key of a query's settlement."""
    return SETTLEMENT + u64be(query_id)


def model_key(operator: bytes = b"") -> bytes:
    """Key of one validator's ensemble model, or (no operator) the prefix of all models."""
    return MODEL + operator


def reputation_key(address: bytes) -> bytes:
    """Key of one address's consensus reputation."""
    return REPUTATION + address


def schedule_key(height: int, query_id: int | None = None) -> bytes:
    """Key of a query's end-block work at height, or (no query) the prefix of that height's work."""
    return SCHEDULE + u64be(height) + (b"" if query_id is None else u64be(query_id))


def pending_key(query_id: int | None = None) -> bytes:
    """Key of a pending fast query, or (no query) the prefix of all of them."""
    return PENDING + (b"" if query_id is None else u64be(query_id))


def progress_key(query_id: int) -> bytes:
    """Key of an open query's participant, commitment and reveal counts."""
    return PROGRESS + u64be(query_id)
