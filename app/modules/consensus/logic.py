"""Pure rules of the consensus module: the predictions format, the settlement tally, peer samples,
the round schedule, and the reward, slash and reputation arithmetic.

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
from synod.consensus.v1 import consensus_pb2

__all__ = [
    "BPS",
    "COMMIT",
    "DONE",
    "ENTRY_BYTES",
    "PEER_DOMAIN",
    "Phase",
    "PredictionsError",
    "REVEAL",
    "Tally",
    "WAITING",
    "compute_answer_bytes",
    "LABELS_DOMAIN",
    "PREDICTIONS_DOMAIN",
    "compute_commitment",
    "compute_labels_commitment",
    "compute_fast_cost",
    "compute_label_deadline",
    "compute_matches",
    "compute_observation",
    "compute_payout",
    "compute_peers",
    "compute_phase",
    "compute_reputation",
    "compute_reward_split",
    "compute_slash",
    "compute_tally",
    "compute_tally_cost",
    "compute_weight",
    "decode_predictions",
    "encode_predictions",
    "is_phase_complete",
    "phase_blocks",
]

BPS = 10_000
ENTRY_BYTES = 3  # class u8, confidence u16 big-endian
PEER_DOMAIN = b"synod/consensus/peers/v1"
PREDICTIONS_DOMAIN = b"synod/consensus/predictions/v1"
LABELS_DOMAIN = b"synod/consensus/labels/v1"


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


def compute_weight(amount: int, reputation_bps: int) -> int:
    """A vote's weight: stake (or voting power) times reputation in bps; linear in the amount."""
    return amount * reputation_bps


def compute_commitment(
    participant: bytes, query_id: int, round_: int, salt: bytes, predictions: bytes
) -> bytes:
    """What a participant commits to in a round: SHA-256(PREDICTIONS_DOMAIN || participant ||
    query_id u64be || round u64be || salt || predictions).

    Binding the author, query and round means a copier who commits another participant's hash can
    never reveal against it (the hash names its author). Every field is fixed-width (a 20-byte
    address, two u64s, the 32-byte salt the reveal requires) except the last, so no two field lists
    hash the same bytes; the domain tag keeps it apart from every other hash the chain takes.
    """
    return hashlib.sha256(
        PREDICTIONS_DOMAIN + participant + u64be(query_id) + u64be(round_) + salt + predictions
    ).digest()


def compute_labels_commitment(poster: bytes, inputs_hash: bytes, salt: bytes, labels: bytes) -> bytes:
    """What a poster commits to at post time (before the query id exists): SHA-256(LABELS_DOMAIN ||
    poster || inputs_hash || len(salt) u64be || salt || labels).

    The poster's address and the inputs' hash tie it to one poster's query on those inputs, so a
    copied commitment cannot be revealed by anyone else; the salt's length prefix keeps a salt of
    any length unambiguous.
    """
    return hashlib.sha256(LABELS_DOMAIN + poster + inputs_hash + u64be(len(salt)) + salt + labels).digest()


def compute_matches(entries: Sequence[tuple[int, int]], classes: Sequence[int]) -> int:
    """How many inputs' predicted classes equal the reference classes (labels or settled answers)."""
    return sum(1 for (label, _), reference in zip(entries, classes, strict=True) if label == reference)


def compute_observation(correct: int, input_count: int) -> int:
    """One query's accuracy in bps: the reputation observation of a participant."""
    return correct * BPS // input_count


def compute_reputation(current_bps: int, observation_bps: int, window: int) -> int:
    """One step of the integer moving average: (current x (window - 1) + observation) // window."""
    return (current_bps * (window - 1) + observation_bps) // window


def compute_reward_split(pool: int, points: dict[bytes, int]) -> tuple[dict[bytes, int], int]:
    """Split pool in proportion to points (correct or agreeing answers): (share per address, remainder).

    Shares are floored, so they never sum above the pool; the remainder (all of it when nobody
    scored a point) is returned for the next tier of compute_payout.
    """
    total = sum(points.values())
    if total == 0:
        return {}, pool
    shares = {address: pool * n // total for address, n in sorted(points.items()) if n}
    return shares, pool - sum(shares.values())


def compute_payout(pool: int, tiers: Sequence[dict[bytes, int]]) -> tuple[dict[bytes, int], int]:
    """Split pool by the first tier's points, what it leaves by the next, and so on: (shares, left).

    Close with labels: tiers are (correct answers, agreeing answers), so the correctness share no
    one earned is paid by agreement; what is left after the last tier (rounding, or everything when
    no tier scored a point) is the caller's to burn or refund (README "Unearned rewards").
    """
    shares: dict[bytes, int] = {}
    for points in tiers:
        split, pool = compute_reward_split(pool, points)
        for address, amount in split.items():
            shares[address] = shares.get(address, 0) + amount
    return dict(sorted(shares.items())), pool


def compute_slash(stake: int, already_slashed: int, fraction_bps: int) -> int:
    """Stake to burn for one missed reveal: a fraction of the whole stake, never more than what is left."""
    return min(stake * fraction_bps // BPS, stake - already_slashed)


# --- the open-query schedule ------------------------------------------------------------------
#
# A query posted at height P starts at S = P + 1 with round 0's commit phase. Each round r (0 ..
# rounds) runs a commit phase of at most commit_blocks, then a reveal phase of at most
# reveal_blocks, each starting at the height after the previous one ended. A phase ends at its
# deadline (its first height + its blocks - 1) or early, in the end-block of the first block that
# completes its work (is_phase_complete): every participant has committed (in round 0 only once
# registration is closed, that is max_participants have registered), or every commitment is
# revealed. A round closes with its reveal phase, after that block's transactions, so a reveal
# included at that height still counts; the last round's close settles.

WAITING, COMMIT, REVEAL, DONE = "waiting", "commit", "reveal", "done"


@dataclass(frozen=True)
class Phase:
    """Where an open query stands at a height: phase name, round and the phase's deadline."""

    name: str
    round: int
    end_height: int


def phase_blocks(schedule: consensus_pb2.Schedule, phase: consensus_pb2.QueryPhase) -> int:
    """The most blocks a phase may last."""
    return schedule.commit_blocks if phase == consensus_pb2.QUERY_PHASE_COMMIT else schedule.reveal_blocks


def compute_phase(query: consensus_pb2.PredictionQuery, height: int) -> Phase:
    """The phase of an open query at height (a height of its current phase, or the posting block)."""
    if (
        query.status != consensus_pb2.QUERY_STATUS_OPEN
        or query.phase == consensus_pb2.QUERY_PHASE_UNSPECIFIED
    ):
        return Phase(DONE, query.rounds, query.settled_height)
    if height < query.phase_start_height:
        return Phase(WAITING, 0, query.phase_start_height - 1)
    end = query.phase_start_height + phase_blocks(query.schedule, query.phase) - 1
    name = COMMIT if query.phase == consensus_pb2.QUERY_PHASE_COMMIT else REVEAL
    return Phase(name, query.round, end)


def is_phase_complete(query: consensus_pb2.PredictionQuery, progress: consensus_pb2.QueryProgress) -> bool:
    """Whether the open query's current phase has all its work (see the schedule above)."""
    if query.status != consensus_pb2.QUERY_STATUS_OPEN or query.fast:
        return False
    if query.phase == consensus_pb2.QUERY_PHASE_COMMIT:
        registration_closed = query.round > 0 or 0 < query.max_participants <= progress.participants
        return registration_closed and progress.commits >= progress.participants > 0
    if query.phase == consensus_pb2.QUERY_PHASE_REVEAL:
        return progress.reveals >= progress.commits > 0
    return False


def compute_label_deadline(query: consensus_pb2.PredictionQuery) -> int:
    """Last height at which the poster may reveal labels; its end-block closes the query without them."""
    return query.settled_height + query.schedule.label_blocks


# --- per-block work (README "Budgets") ----------------------------------------------------------
#
# Units are what the work loops over: a fast query visited by the ensemble settlement costs
# 1 + inputs x answers (every answer blob is decoded, then tallied); a round close or a label
# deadline of an open query costs participants x (inputs + rounds + 1) (decode and tally every
# reveal, read every round's commitments, pay every participant).

# Framing of one EnsembleAnswer in a VoteExtension (tag, id varint, length varint), rounded up.
ANSWER_FRAMING_BYTES = 16
# The beacon share (96 bytes) with its framing, rounded up.
BEACON_SHARE_BYTES = 256


def compute_fast_cost(input_count: int, answers: int) -> int:
    """Work units of one pending fast query in one block's ensemble settlement."""
    return 1 + input_count * answers


def compute_tally_cost(participants: int, input_count: int, rounds: int) -> int:
    """Work units of one round close or label-deadline close of an open query (at least 1)."""
    return max(1, participants) * (input_count + rounds + 1)


def compute_answer_bytes(answers: int, input_count: int) -> int:
    """The largest vote extension holding `answers` answers of input_count inputs each."""
    return BEACON_SHARE_BYTES + answers * (ENTRY_BYTES * input_count + ANSWER_FRAMING_BYTES)
