"""Pure rules of the committee module: committee size, sampling, medians, verdicts, reputation.

Everything here is integer arithmetic over its arguments, so every node computes the same result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

from app.core.codec import u64be
from synod.committee.v1 import committee_pb2

__all__ = [
    "ATTEST_DOMAIN",
    "BPS",
    "COMMITMENT_LEN",
    "MemberScores",
    "RoundVerdicts",
    "SALT_LEN",
    "SEAT_VOTE",
    "compute_attestation_commitment",
    "compute_capture_probability_ppb",
    "compute_committee",
    "compute_committee_size",
    "compute_member_faults",
    "compute_replayed",
    "compute_reveal_start",
    "compute_reputation",
    "compute_reward_points",
    "compute_verdicts",
    "compute_weighted_median",
]

BPS = 10_000
PPB = 1_000_000_000
SAMPLE_DOMAIN = b"synod/committee/sample/v1"
# Every seat's vote in the medians. Stake already decided who holds the seats; weighting the votes by
# stake again would hand a committee to one large validator (bench/byzantine measured a 30% validator
# capturing every 55-seat committee), breaking the binomial bound the committee is sized by.
SEAT_VOTE = 1
ATTEST_DOMAIN = b"synod/committee/attest/v1"
SALT_LEN = COMMITMENT_LEN = 32


def _encode_score(score: committee_pb2.UpdateScore) -> bytes:
    """One score's canonical bytes: its deterministic proto encoding without unknown fields, so a
    field later added to UpdateScore is bound with no change here."""
    known = committee_pb2.UpdateScore()
    known.CopyFrom(score)
    known.DiscardUnknownFields()  # type: ignore[attr-defined]  # in protobuf, not in its stubs
    return known.SerializeToString(deterministic=True)


def compute_attestation_commitment(
    attester: bytes,
    task_id: int,
    round_: int,
    salt: bytes,
    baseline_bps: int,
    scores: Sequence[committee_pb2.UpdateScore],
) -> bytes:
    """SHA-256 binding a member's attestation to its author (20-byte address), task and round.

    The address, ids and salt (SALT_LEN bytes, checked by the handlers) have fixed widths and every
    score is length-prefixed, so no two attestations share an encoding; a copied commitment opens only
    under its author's address, which the copier cannot sign for.
    """
    h = hashlib.sha256(ATTEST_DOMAIN + attester + u64be(task_id) + round_.to_bytes(4, "big") + salt)
    h.update(baseline_bps.to_bytes(4, "big") + len(scores).to_bytes(4, "big"))
    for score in scores:
        item = _encode_score(score)
        h.update(len(item).to_bytes(4, "big") + item)
    return h.digest()


def compute_reveal_start(start_height: int, end_height: int, reveal_blocks: int) -> int:
    """First height of a score phase's reveal window: its last min(reveal_blocks, length // 2) blocks
    (at least one); the blocks before form the commit window, at least half the phase."""
    length = end_height - start_height + 1
    return end_height - max(1, min(reveal_blocks, length // 2)) + 1


def compute_capture_probability_ppb(size: int, adversarial_bps: int) -> int:
    """P(adversaries hold at least half of `size` seats), in parts per billion, rounded up.

    Each seat is modelled as an independent draw that is adversarial with probability
    adversarial_bps / 10^4 (a binomial tail). Sampling without replacement, as compute_committee
    does, concentrates more, so for equal-stake members this is an upper bound; bench/byzantine's
    simulation measures the real rate with unequal stakes. Half (not a strict majority) already lets
    adversaries set the lower weighted median, hence ceil(size / 2).
    """
    if size <= 0:
        return PPB
    bad, good = adversarial_bps, BPS - adversarial_bps
    need = (size + 1) // 2
    numerator = sum(comb(size, k) * bad**k * good ** (size - k) for k in range(need, size + 1))
    denominator = BPS**size
    return -(-numerator * PPB // denominator)


def compute_committee_size(adversarial_bps: int, target_ppb: int, max_size: int) -> int:
    """The smallest committee whose capture probability is at most the target (else max_size)."""
    for size in range(1, max_size + 1):
        if compute_capture_probability_ppb(size, adversarial_bps) <= target_ppb:
            return size
    return max_size


def _draw(seed: bytes, task_id: int, round_: int, seat: int, total: int) -> int:
    """A uniform integer in [0, total) for one seat (the modulo bias is below 2^-190)."""
    digest = hashlib.sha256(
        SAMPLE_DOMAIN + seed + u64be(task_id) + round_.to_bytes(4, "big") + seat.to_bytes(4, "big")
    ).digest()
    return int.from_bytes(digest, "big") % total


def compute_committee(
    seed: bytes, task_id: int, round_: int, members: list[tuple[bytes, int]], size: int
) -> list[tuple[bytes, int]]:
    """Sample `size` (member, weight) pairs by weight, without replacement, in seat order.

    Successive sampling: each seat draws one of the remaining members with probability weight /
    remaining weight. This is the same distribution as Efraimidis-Spirakis keys u^(1/w), in exact
    integers. Members are taken in address order so the input order cannot matter; zero weights
    are never drawn.
    """
    pool = sorted((m, w) for m, w in members if w > 0)
    chosen: list[tuple[bytes, int]] = []
    for seat in range(min(size, len(pool))):
        draw = _draw(seed, task_id, round_, seat, sum(w for _, w in pool))
        for i, (_, weight) in enumerate(pool):
            if draw < weight:
                chosen.append(pool.pop(i))
                break
            draw -= weight
    return chosen


def compute_replayed(hashes: dict[bytes, bytes], seen: set[bytes]) -> set[bytes]:
    """Workers whose update hash was seen in an earlier round, or that another worker also revealed now."""
    counts: dict[bytes, int] = {}
    for update_hash in hashes.values():
        counts[update_hash] = counts.get(update_hash, 0) + 1
    return {w for w, h in hashes.items() if counts[h] > 1 or h in seen}


def compute_weighted_median(values: list[tuple[int, int]]) -> int:
    """The lower weighted median of (value, weight) pairs: the smallest value holding half the weight."""
    ordered = sorted(values)
    total = sum(w for _, w in ordered)
    if total <= 0:
        raise ValueError("weighted median of no weight")
    seen = 0
    for value, weight in ordered:
        seen += weight
        if 2 * seen >= total:
            return value
    raise AssertionError("unreachable: the weights sum to total")


@dataclass(frozen=True)
class MemberScores:
    """One attesting member's vote weight, its baseline and its (score, spot check failed) per worker.

    The chain gives every seat SEAT_VOTE; the weight stays a parameter so the rules are tested with
    unequal votes too.
    """

    operator: bytes
    weight: int
    baseline_bps: int
    scores: dict[bytes, tuple[int, bool]]


@dataclass(frozen=True)
class RoundVerdicts:
    """The judged round: baseline median, and per worker (verdict, median score)."""

    baseline_bps: int
    updates: dict[bytes, tuple[committee_pb2.Verdict, int]]


def _score_update(worker: bytes, attested: list[MemberScores]) -> int | None:
    """The weighted median score of one update, or None if most attesting weight flagged its trace."""
    total = sum(m.weight for m in attested)
    flagged = sum(m.weight for m in attested if m.scores[worker][1])
    if 2 * flagged > total:
        return None
    return compute_weighted_median([(m.scores[worker][0], m.weight) for m in attested])


def compute_verdicts(
    workers: list[bytes], attested: list[MemberScores], replayed: set[bytes], max_drop_bps: int
) -> RoundVerdicts:
    """Decide every revealed update of a round from the attestations.

    A replayed update fails without scores. With no attestation at all the round is unscored and
    every other update goes to the task's (robust) rule. Otherwise a majority of attesting weight
    flagging the spot check fails it, and so does a weighted median score more than
    max_drop_bps below the reference: the better of the current model's own score (the median
    baseline) and the round's typical update (the upper median of the updates' medians). The
    baseline alone is too weak early on, when a near-random model can hardly get worse; the upper
    median stays an honest update's score as long as fewer than half of the updates are bad.
    """
    baseline = compute_weighted_median([(m.baseline_bps, m.weight) for m in attested]) if attested else 0
    updates: dict[bytes, tuple[committee_pb2.Verdict, int]] = {}
    medians: dict[bytes, int] = {}
    for worker in workers:
        if worker in replayed:
            updates[worker] = (committee_pb2.VERDICT_REPLAYED, 0)
        elif not attested:
            updates[worker] = (committee_pb2.VERDICT_UNSCORED, 0)
        else:
            median = _score_update(worker, attested)
            if median is None:
                updates[worker] = (committee_pb2.VERDICT_FAILED_SPOT_CHECK, 0)
            else:
                medians[worker] = median
    if medians:
        ordered = sorted(medians.values())
        reference = max(baseline, ordered[len(ordered) // 2])
        for worker, median in medians.items():
            failed = median + max_drop_bps < reference
            verdict = committee_pb2.VERDICT_FAILED_SCORE if failed else committee_pb2.VERDICT_ACCEPTED
            updates[worker] = (verdict, median)
    return RoundVerdicts(baseline, {w: updates[w] for w in workers})


def compute_member_faults(
    seats: list[bytes], attested: list[MemberScores], verdicts: RoundVerdicts, tolerance_bps: int
) -> dict[bytes, tuple[bool, int]]:
    """Per seat: (faulty, largest deviation from the medians).

    A member that did not attest is faulty; one that did is faulty when its baseline or any score of
    a scored update lies further than tolerance_bps from the weighted median.
    """
    by_operator = {m.operator: m for m in attested}
    out: dict[bytes, tuple[bool, int]] = {}
    for operator in seats:
        member = by_operator.get(operator)
        if member is None:
            out[operator] = (True, 0)
            continue
        deviation = abs(member.baseline_bps - verdicts.baseline_bps)
        for worker, (verdict, median) in verdicts.updates.items():
            if verdict in (committee_pb2.VERDICT_ACCEPTED, committee_pb2.VERDICT_FAILED_SCORE):
                deviation = max(deviation, abs(member.scores[worker][0] - median))
        out[operator] = (deviation > tolerance_bps, deviation)
    return out


def compute_reputation(current_bps: int, good: bool, window: int) -> int:
    """One step of the integer moving average: (current x (window - 1) + outcome) // window."""
    outcome = BPS if good else 0
    return (current_bps * (window - 1) + outcome) // window


def compute_reward_points(verdict: int, median_bps: int, reputation_bps: int) -> int:
    """Reward points of one accepted update: its score weighted by its worker's reputation."""
    if verdict == committee_pb2.VERDICT_UNSCORED:
        median_bps = BPS
    elif verdict != committee_pb2.VERDICT_ACCEPTED:
        return 0
    return median_bps * reputation_bps // BPS
