"""Pure rules of the committee module: committee size, sampling, medians, verdicts, reputation.

Everything here is integer arithmetic over its arguments, so every node computes the same result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import comb, isqrt

from app.core.codec import u64be
from synod.committee.v1 import committee_pb2

__all__ = [
    "ATTEST_DOMAIN",
    "BPS",
    "COMMITMENT_LEN",
    "DirectionRule",
    "MemberScores",
    "RoundVerdicts",
    "SALT_LEN",
    "SEAT_VOTE",
    "compute_attestation_commitment",
    "StrayTolerances",
    "compute_capture_probability_ppb",
    "compute_committee",
    "compute_committee_size",
    "compute_eval_sample",
    "compute_member_faults",
    "compute_replayed",
    "compute_reveal_start",
    "compute_reputation",
    "compute_reward_points",
    "compute_stray_tolerance_bps",
    "compute_stray_tolerances",
    "compute_verdicts",
    "compute_weighted_median",
]

BPS = 10_000
PPB = 1_000_000_000
SAMPLE_DOMAIN = b"synod/committee/sample/v1"
EVAL_SAMPLE_DOMAIN = b"synod/committee/eval-sample/v1"
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

    directions holds per worker (direction_bps, norm_bps): the cosine, in signed basis points, of the
    update with the member's reference update, and the update's norm relative to the round's median
    norm. The chain gives every seat SEAT_VOTE; the weight stays a parameter so the rules are tested
    with unequal votes too.
    """

    operator: bytes
    weight: int
    baseline_bps: int
    scores: dict[bytes, tuple[int, bool]]
    directions: dict[bytes, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class DirectionRule:
    """The direction test: fail an update whose median cosine with the members' reference updates is
    below min_direction_bps, or whose median norm exceeds max_norm_ratio_bps of the round's median norm.
    """

    min_direction_bps: int
    max_norm_ratio_bps: int


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


def _fails_direction(worker: bytes, attested: list[MemberScores], rule: DirectionRule) -> bool:
    """Whether the weighted medians of an update's direction or norm break the rule."""
    # A member that attested no direction for the worker votes (0, 0): no direction, no norm excess.
    votes = [(m.directions.get(worker, (0, 0)), m.weight) for m in attested]
    direction = compute_weighted_median([(d, w) for (d, _), w in votes])
    # The upper median of the norms: half the weight must agree an update is too large before it fails.
    norm = -compute_weighted_median([(-n, w) for (_, n), w in votes])
    return direction < rule.min_direction_bps or norm > rule.max_norm_ratio_bps


def _compute_drops(scored: list[bytes], attested: list[MemberScores]) -> dict[bytes, int]:
    """Per scored worker, the weighted median over members of (member's reference - member's score).

    Each member's reference is the better of its baseline and the upper median of its own scores of
    the scored updates. Taking the drop per member first pairs every score with a reference measured
    on the same evaluation rows, so members scoring different row samples still agree on the drop.
    """
    references = {}
    for m in attested:
        ordered = sorted(m.scores[w][0] for w in scored)
        references[m.operator] = max(m.baseline_bps, ordered[len(ordered) // 2])
    return {
        w: compute_weighted_median([(references[m.operator] - m.scores[w][0], m.weight) for m in attested])
        for w in scored
    }


def compute_verdicts(
    workers: list[bytes],
    attested: list[MemberScores],
    replayed: set[bytes],
    max_drop_bps: int,
    direction: DirectionRule | None = None,
) -> RoundVerdicts:
    """Decide every revealed update of a round from the attestations.

    A replayed update fails without scores. With no attestation at all the round is unscored and
    every other update goes to the task's (robust) rule. Otherwise a majority of attesting weight
    flagging the spot check fails it, and so does a weighted median drop of more than max_drop_bps
    below the reference (_compute_drops): per member, the better of the current model's own score
    and the round's typical update (the upper median of the member's scores). The baseline alone is
    too weak early on, when a near-random model can hardly get worse; the upper median stays an
    honest update's score as long as fewer than half of the updates are bad.
    An update that passes the score test fails the direction test (if a rule is given) when the
    weighted median of its attested directions is below the rule's minimum or its norm ratio above
    the maximum: attacks that keep accuracy but push the model the wrong way (IPM, sign flip).
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
        drops = _compute_drops(list(medians), attested)
        for worker, median in medians.items():
            verdict = committee_pb2.VERDICT_ACCEPTED
            if drops[worker] > max_drop_bps:
                verdict = committee_pb2.VERDICT_FAILED_SCORE
            elif direction is not None and _fails_direction(worker, attested, direction):
                verdict = committee_pb2.VERDICT_FAILED_DIRECTION
            updates[worker] = (verdict, median)
    return RoundVerdicts(baseline, {w: updates[w] for w in workers})


_SCORED = (
    committee_pb2.VERDICT_ACCEPTED,
    committee_pb2.VERDICT_FAILED_SCORE,
    committee_pb2.VERDICT_FAILED_DIRECTION,
)


def _median_directions(attested: list[MemberScores], workers: list[bytes]) -> dict[bytes, int]:
    """The weighted median direction of each worker's update over the attesting members."""
    return {
        w: compute_weighted_median([(m.directions.get(w, (0, 0))[0], m.weight) for m in attested])
        for w in workers
    }


@dataclass(frozen=True)
class StrayTolerances:
    """How far a member may stray from the medians: paired drops, absolute scores, directions (bps).

    score covers the baseline and absolute scores, which members scoring different row samples
    disagree on by sampling noise (compute_stray_tolerance_bps); drop covers each score's distance
    below the member's own reference (_compute_drops), measured on one member's rows and so tight;
    direction is None when the direction test is off.
    """

    drop: int
    score: int
    direction: int | None = None


def _stray(
    member: MemberScores, scored: list[bytes], medians: dict[bytes, tuple[int, int, int]]
) -> tuple[int, int, int]:
    """The member's largest distances from the medians: (absolute score, paired drop, direction)."""
    ordered = sorted(member.scores[w][0] for w in scored)
    reference = max(member.baseline_bps, ordered[len(ordered) // 2]) if ordered else member.baseline_bps
    score = drop = direction = 0
    for w in scored:
        median_score, median_drop, median_direction = medians[w]
        own = member.scores[w][0]
        score = max(score, abs(own - median_score))
        drop = max(drop, abs(reference - own - median_drop))
        direction = max(direction, abs(member.directions.get(w, (0, 0))[0] - median_direction))
    return score, drop, direction


def compute_member_faults(
    seats: list[bytes], attested: list[MemberScores], verdicts: RoundVerdicts, tolerance: StrayTolerances
) -> dict[bytes, tuple[bool, int]]:
    """Per seat: (faulty, largest deviation from the medians).

    A member that did not attest is faulty; one that did is faulty when its baseline or any score of
    a scored update lies further than tolerance.score from the weighted median, any score's drop below
    its own reference further than tolerance.drop from the median drop, or (when the direction test
    is on) any direction further than tolerance.direction from the median direction.
    """
    by_operator = {m.operator: m for m in attested}
    scored = [w for w, (verdict, _) in verdicts.updates.items() if verdict in _SCORED]
    drops = _compute_drops(scored, attested) if attested and scored else {}
    directions = _median_directions(attested, scored) if attested else {}
    medians = {w: (verdicts.updates[w][1], drops[w], directions[w]) for w in scored}
    out: dict[bytes, tuple[bool, int]] = {}
    for operator in seats:
        member = by_operator.get(operator)
        if member is None:
            out[operator] = (True, 0)
            continue
        score, drop, direction = _stray(member, scored, medians)
        score = max(score, abs(member.baseline_bps - verdicts.baseline_bps))
        faulty = score > tolerance.score or drop > tolerance.drop
        deviation = max(score, drop)
        if tolerance.direction is not None:
            faulty = faulty or direction > tolerance.direction
            deviation = max(deviation, direction)
        out[operator] = (faulty, deviation)
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


def compute_eval_sample(
    seed: bytes, task_id: int, round_: int, operator: bytes, rows: int, size: int
) -> list[int]:
    """The evaluation rows one member scores on: the `size` rows with the smallest keys, in row order.

    Each row's key is SHA-256 over the committee seed, task, round, the member's operator address and
    the row index, so every member's sample is different, fixed before anyone scores, and checkable by
    anyone holding the committee record. size 0 (or at least rows) means every row.
    """
    if size <= 0 or size >= rows:
        return list(range(rows))
    prefix = EVAL_SAMPLE_DOMAIN + seed + u64be(task_id) + round_.to_bytes(4, "big") + operator
    keys = sorted((hashlib.sha256(prefix + row.to_bytes(4, "big")).digest(), row) for row in range(rows))
    return sorted(row for _, row in keys[:size])


def compute_stray_tolerances(base_tolerance_bps: int, sample_rows: int, direction: bool) -> StrayTolerances:
    """The tolerances for members scoring sample_rows rows each (0: all rows), directions if tested."""
    wide = compute_stray_tolerance_bps(base_tolerance_bps, sample_rows)
    # Cosines with references trained on different samples spread about twice as far as accuracies
    # (bench/byzantine: honest breast-cancer members 2800 bps below to 9000 above the median at 16 rows).
    return StrayTolerances(wide, wide, 2 * wide if direction else None)


def compute_stray_tolerance_bps(base_tolerance_bps: int, sample_rows: int) -> int:
    """The score tolerance when each member scores its own sample of sample_rows rows (0: all rows).

    Honest members then disagree by sampling noise: an accuracy on n rows has a standard deviation of
    at most 10^4 / (2 sqrt(n)) basis points, and the tolerance is widened to four of them.
    """
    if sample_rows <= 0:
        return base_tolerance_bps
    return max(base_tolerance_bps, 2 * BPS // max(1, isqrt(sample_rows)))
