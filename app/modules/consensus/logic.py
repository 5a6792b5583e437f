"""Pure rules of the consensus module: the predictions format, the settlement tally and peer samples.

Everything here is integer arithmetic over its arguments, so every node computes the same result.

Settlement rule (README.md explains why): on every input, each vote adds
weight x confidence_bps to the class it names, where weight is the voter's stake (open queries) or
voting power (fast queries) times its reputation in basis points. The answer is the class with the
largest total, the smallest class on a tie; its support is its share of the input's total, in bps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.codec import u64be

__all__ = [
    "BPS",
    "ENTRY_BYTES",
    "PEER_DOMAIN",
    "PredictionsError",
    "Tally",
    "compute_peers",
    "compute_tally",
    "decode_predictions",
    "encode_predictions",
]

BPS = 10_000
ENTRY_BYTES = 3  # class u8, confidence u16 big-endian
PEER_DOMAIN = b"synod/consensus/peers/v1"


class PredictionsError(ValueError):
    """A predictions blob is malformed for its query; the message says where."""


def encode_predictions(entries: Sequence[tuple[int, int]]) -> bytes:
    """Encode (class, confidence_bps) per input: 3 bytes each, class u8 then confidence u16 big-endian."""
    out = bytearray()
    for index, (label, confidence) in enumerate(entries):
        if not 0 <= label <= 0xFF or not 0 <= confidence <= BPS:
            raise PredictionsError(f"input {index}: class {label} or confidence {confidence} out of range")
        out += bytes([label]) + confidence.to_bytes(2, "big")
    return bytes(out)


def decode_predictions(blob: bytes, input_count: int, label_count: int) -> list[tuple[int, int]]:
    """Decode and check a predictions blob: exactly input_count entries, classes < label_count."""
    if len(blob) != ENTRY_BYTES * input_count:
        raise PredictionsError(
            f"predictions are {len(blob)} bytes, expected {ENTRY_BYTES * input_count} "
            f"({input_count} inputs x {ENTRY_BYTES})"
        )
    entries = []
    for index in range(input_count):
        at = ENTRY_BYTES * index
        label, confidence = blob[at], int.from_bytes(blob[at + 1 : at + 3], "big")
        if label >= label_count:
            raise PredictionsError(f"input {index}: class {label} is not below label_count {label_count}")
        if confidence > BPS:
            raise PredictionsError(f"input {index}: confidence {confidence} exceeds {BPS}")
        entries.append((label, confidence))
    return entries


@dataclass(frozen=True)
class Tally:
    """One input's settled class and the share of the vote weight behind it, in bps."""

    answer: int
    support_bps: int


def compute_tally(
    input_count: int, label_count: int, votes: Sequence[tuple[int, Sequence[tuple[int, int]]]]
) -> list[Tally]:
    """Settle every input from (weight, decoded predictions) votes by the module's rule.

    A vote adds weight x confidence_bps to its class. Ties go to the smallest class, and an input
    with no weight at all settles on class 0 with support 0.
    """
    totals = [[0] * label_count for _ in range(input_count)]
    for weight, entries in votes:
        if weight < 0:
            raise ValueError(f"negative vote weight {weight}")
        for index, (label, confidence) in enumerate(entries):
            totals[index][label] += weight * confidence
    out = []
    for row in totals:
        answer = max(range(label_count), key=lambda c: (row[c], -c))
        total = sum(row)
        out.append(Tally(answer, row[answer] * BPS // total if total else 0))
    return out


def compute_peers(
    seed: bytes, query_id: int, round_: int, participant: bytes, others: Sequence[bytes], k: int
) -> list[bytes]:
    """The k peers (never itself) a participant is shown after round_, drawn without replacement.

    Each candidate gets the key SHA-256(domain, seed, query, round, participant, candidate); the k
    smallest keys win, so the sample is uniform, independent per participant, and fixed by the seed.
    """
    candidates = sorted(set(others) - {participant})
    prefix = PEER_DOMAIN + seed + u64be(query_id) + round_.to_bytes(4, "big") + participant
    ranked = sorted(candidates, key=lambda c: hashlib.sha256(prefix + c).digest())
    return sorted(ranked[:k])
