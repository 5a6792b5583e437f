"""committee pure rules: capture probability, sampling, weighted median, verdicts, faults, reputation."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from math import comb

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.modules.committee import logic
from app.modules.committee.logic import MemberScores
from app.modules.committee.params import default_params, validate_params
from synod.committee.v1 import committee_pb2

A, B, C, D = (bytes([i]) * 20 for i in range(1, 5))
W1, W2, W3 = (bytes([0x10 + i]) * 20 for i in range(3))


def _seed(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest()


# --- capture probability and size ------------------------------------------------------------------


def test_capture_probability_is_the_binomial_tail_rounded_up() -> None:
    # 3 seats at 30%: P(X >= 2) = 3 * 0.09 * 0.7 + 0.027 = 0.216.
    assert logic.compute_capture_probability_ppb(3, 3000) == 216_000_000
    # One seat is captured exactly when it is adversarial; nobody adversarial never captures.
    assert logic.compute_capture_probability_ppb(1, 3000) == 300_000_000
    assert logic.compute_capture_probability_ppb(9, 0) == 0
    # An even size lets a tie capture the lower median: 4 seats are worse than 3.
    assert logic.compute_capture_probability_ppb(4, 3000) > logic.compute_capture_probability_ppb(3, 3000)
    exact = sum(Fraction(3, 10) ** k * Fraction(7, 10) ** (7 - k) * comb(7, k) for k in range(4, 8))
    assert logic.compute_capture_probability_ppb(7, 3000) == -(-exact.numerator * 10**9 // exact.denominator)


def test_committee_size_is_the_smallest_meeting_the_target() -> None:
    size = logic.compute_committee_size(3000, 1_000_000, 200)
    assert logic.compute_capture_probability_ppb(size, 3000) <= 1_000_000
    assert all(logic.compute_capture_probability_ppb(n, 3000) > 1_000_000 for n in range(1, size))
    # An unreachable target falls back to the maximum.
    assert logic.compute_committee_size(4900, 1, 15) == 15


# --- sampling -------------------------------------------------------------------------------------


def test_sampling_is_deterministic_without_replacement_and_ignores_input_order() -> None:
    members = [(A, 10), (B, 20), (C, 30), (D, 40)]
    first = logic.compute_committee(_seed(1), 7, 3, members, 3)
    assert first == logic.compute_committee(_seed(1), 7, 3, list(reversed(members)), 3)
    assert len({m for m, _ in first}) == 3
    assert logic.compute_committee(_seed(1), 7, 3, members, 10) != first  # capped at 4, all drawn
    assert sorted(logic.compute_committee(_seed(1), 7, 3, members, 10)) == sorted(members)
    assert logic.compute_committee(_seed(1), 7, 3, [(A, 0), (B, 5)], 2) == [(B, 5)]


def test_sampling_is_stake_proportional_over_many_seeds() -> None:
    """First-seat frequencies match stake shares (chi-square, 3 d.o.f., p ~ 0.001 critical 16.27)."""
    members = [(A, 10), (B, 20), (C, 30), (D, 40)]
    trials = 4000
    counts = dict.fromkeys((A, B, C, D), 0)
    for i in range(trials):
        counts[logic.compute_committee(_seed(i), 1, 1, members, 1)[0][0]] += 1
    chi2 = sum((counts[m] - trials * w / 100) ** 2 / (trials * w / 100) for m, w in members)
    assert chi2 < 16.27, counts


def test_sampling_without_replacement_matches_successive_sampling_probabilities() -> None:
    """P(A and B both drawn in 2 seats) equals the exact successive-sampling probability."""
    members = [(A, 10), (B, 20), (C, 30), (D, 40)]
    trials = 4000
    both = sum(
        {A, B} <= {m for m, _ in logic.compute_committee(_seed(i), 2, 1, members, 2)} for i in range(trials)
    )
    exact = Fraction(10, 100) * Fraction(20, 90) + Fraction(20, 100) * Fraction(10, 80)
    sd = (float(exact) * (1 - float(exact)) / trials) ** 0.5
    assert abs(both / trials - float(exact)) < 4 * sd


@given(st.integers(0, 2**32), st.integers(1, 2**20), st.integers(1, 1000))
def test_any_single_input_changes_the_draw_unpredictably(seed: int, task: int, round_: int) -> None:
    """Each of seed, task and round feeds the hash: changing one re-draws (over a wide pool)."""
    members = [(bytes([i]) * 20, 1) for i in range(1, 65)]
    base = logic.compute_committee(_seed(seed), task, round_, members, 8)
    assert base != logic.compute_committee(_seed(seed + 1), task, round_, members, 8)
    assert base != logic.compute_committee(_seed(seed), task + 1, round_, members, 8)
    assert base != logic.compute_committee(_seed(seed), task, round_ + 1, members, 8)


# --- weighted median, verdicts, faults ------------------------------------------------------------


def test_weighted_median_is_the_lower_median_by_weight() -> None:
    assert logic.compute_weighted_median([(5, 1), (1, 1), (9, 1)]) == 5
    assert logic.compute_weighted_median([(1, 1), (9, 1)]) == 1  # a tie takes the lower value
    assert logic.compute_weighted_median([(1, 10), (9, 11)]) == 9
    with pytest.raises(ValueError):
        logic.compute_weighted_median([])


def _member(
    op: bytes, weight: int, baseline: int, scores: dict[bytes, int], flagged: set[bytes] = frozenset()
):
    return MemberScores(op, weight, baseline, {w: (s, w in flagged) for w, s in scores.items()})


def test_verdicts_fail_low_scores_spot_checks_and_replays() -> None:
    attested = [
        _member(A, 40, 8000, {W1: 8500, W2: 3000, W3: 8200}, {W3}),
        _member(B, 30, 8100, {W1: 8400, W2: 2000, W3: 8100}, {W3}),
        _member(C, 30, 7900, {W1: 9999, W2: 9999, W3: 8000}),  # a dissenter cannot move the median
    ]
    v = logic.compute_verdicts([W1, W2, W3], attested, set(), 1500)
    assert v.baseline_bps == 8000
    assert v.updates[W1] == (committee_pb2.VERDICT_ACCEPTED, 8500)
    assert v.updates[W2] == (committee_pb2.VERDICT_FAILED_SCORE, 3000)
    assert v.updates[W3] == (committee_pb2.VERDICT_FAILED_SPOT_CHECK, 0)
    replay = logic.compute_verdicts([W1], attested, {W1}, 1500)
    assert replay.updates[W1] == (committee_pb2.VERDICT_REPLAYED, 0)
    unscored = logic.compute_verdicts([W1, W2], [], set(), 1500)
    assert set(unscored.updates.values()) == {(committee_pb2.VERDICT_UNSCORED, 0)}


def test_a_score_exactly_at_the_threshold_passes() -> None:
    attested = [_member(A, 1, 8000, {W1: 6500})]
    assert (
        logic.compute_verdicts([W1], attested, set(), 1500).updates[W1][0] == committee_pb2.VERDICT_ACCEPTED
    )
    attested = [_member(A, 1, 8000, {W1: 6499})]
    assert (
        logic.compute_verdicts([W1], attested, set(), 1500).updates[W1][0]
        == committee_pb2.VERDICT_FAILED_SCORE
    )


def test_early_rounds_judge_against_the_typical_update_not_the_near_random_model() -> None:
    """From a 7% model a sign-flipped update cannot drop far, but it trails the honest updates."""
    honest = {W1: 8000, W2: 7800}
    attested = [_member(A, 1, 700, {**honest, W3: 500}), _member(B, 1, 700, {**honest, W3: 600})]
    v = logic.compute_verdicts([W1, W2, W3], attested, set(), 1500)
    assert v.updates[W3] == (committee_pb2.VERDICT_FAILED_SCORE, 500)
    assert {v.updates[W1][0], v.updates[W2][0]} == {committee_pb2.VERDICT_ACCEPTED}
    # Half the updates bad still leaves the upper median honest.
    w4 = bytes([0x20]) * 20
    attested = [_member(A, 1, 700, {W1: 8000, W2: 600, W3: 500, w4: 7900})]
    v = logic.compute_verdicts([W1, W2, W3, w4], attested, set(), 1500)
    assert [v.updates[w][0] for w in (W1, W2, W3, w4)] == [
        committee_pb2.VERDICT_ACCEPTED,
        committee_pb2.VERDICT_FAILED_SCORE,
        committee_pb2.VERDICT_FAILED_SCORE,
        committee_pb2.VERDICT_ACCEPTED,
    ]


def test_member_faults_for_silence_and_straying() -> None:
    attested = [
        _member(A, 40, 8000, {W1: 8500}),
        _member(B, 30, 8000, {W1: 8400}),
        _member(C, 30, 8000, {W1: 10_000}),  # lazy: scores everything perfect
    ]
    v = logic.compute_verdicts([W1], attested, set(), 1500)
    faults = logic.compute_member_faults([A, B, C, D], attested, v, logic.StrayTolerances(500, 500))
    assert faults[A] == (False, 0)
    assert faults[B] == (False, 100)
    assert faults[C] == (True, 1500)
    assert faults[D] == (True, 0)  # seated, never attested


# --- reputation and points ------------------------------------------------------------------------


@given(st.integers(0, 10_000), st.booleans(), st.integers(1, 100))
def test_reputation_moves_toward_the_outcome_and_stays_in_range(
    current: int, good: bool, window: int
) -> None:
    new = logic.compute_reputation(current, good, window)
    assert 0 <= new <= 10_000
    assert (new >= current) if good else (new <= current)


def test_reputation_is_an_integer_moving_average() -> None:
    assert logic.compute_reputation(5000, True, 8) == (5000 * 7 + 10_000) // 8
    assert logic.compute_reputation(5000, False, 8) == 5000 * 7 // 8
    assert logic.compute_reputation(10_000, True, 1) == 10_000


def test_reward_points_weight_the_score_by_reputation() -> None:
    assert logic.compute_reward_points(committee_pb2.VERDICT_ACCEPTED, 9000, 5000) == 4500
    assert logic.compute_reward_points(committee_pb2.VERDICT_UNSCORED, 0, 10_000) == 10_000
    assert logic.compute_reward_points(committee_pb2.VERDICT_FAILED_SCORE, 9000, 10_000) == 0


def test_replays_are_earlier_bytes_or_bytes_two_workers_share_now() -> None:
    hashes = {b"a": b"h1", b"b": b"h2", b"c": b"h2", b"d": b"h3"}
    assert logic.compute_replayed(hashes, seen={b"h3"}) == {b"b", b"c", b"d"}
    assert logic.compute_replayed({b"a": b"h1"}, seen=set()) == set()


def test_a_whale_gets_one_seat_and_one_vote_so_capture_needs_many_validators() -> None:
    # One validator with 30% of the stake among 100 small ones: seated at most once, and with one vote
    # per seat its low scores cannot set the median of a 9-seat committee on their own.
    whale = b"\xff" * 20
    members = [(whale, 4_300)] + [(bytes([i]) * 20, 100) for i in range(100)]
    seated = 0
    for draw in range(200):
        seats = logic.compute_committee(hashlib.sha256(bytes([draw])).digest(), 1, draw, members, 9)
        assert [op for op, _ in seats].count(whale) <= 1
        seated += any(op == whale for op, _ in seats)
        attested = [
            MemberScores(op, logic.SEAT_VOTE, 8_000, {b"w": (0 if op == whale else 8_000, False)})
            for op, _ in seats
        ]
        verdicts = logic.compute_verdicts([b"w"], attested, set(), max_drop_bps=1_000)
        assert verdicts.updates[b"w"] == (committee_pb2.VERDICT_ACCEPTED, 8_000)
    assert seated > 100  # the whale is usually seated: stake still buys a seat, just not the vote


# --- attestation commitments and windows ---------------------------------------------------------


def _scores(*values: int, failed: bool = False) -> list[committee_pb2.UpdateScore]:
    workers = ("synod1bob", "synod1carol", "synod1dave")
    return [
        committee_pb2.UpdateScore(worker=w, score_bps=v, spot_check_failed=failed)
        for w, v in zip(workers, values, strict=False)
    ]


_BASE = (A, 7, 3, b"\x05" * 32, 5000, _scores(8000, 8100))


def test_the_attestation_commitment_binds_every_part() -> None:
    base = logic.compute_attestation_commitment(*_BASE)
    assert len(base) == logic.COMMITMENT_LEN
    assert logic.compute_attestation_commitment(*_BASE) == base  # deterministic
    changed = [
        (B, 7, 3, b"\x05" * 32, 5000, _scores(8000, 8100)),  # another attester
        (A, 8, 3, b"\x05" * 32, 5000, _scores(8000, 8100)),  # another task
        (A, 7, 4, b"\x05" * 32, 5000, _scores(8000, 8100)),  # another round
        (A, 7, 3, b"\x06" * 32, 5000, _scores(8000, 8100)),  # another salt
        (A, 7, 3, b"\x05" * 32, 5001, _scores(8000, 8100)),  # another baseline
        (A, 7, 3, b"\x05" * 32, 5000, _scores(8000, 8101)),  # another score
        (A, 7, 3, b"\x05" * 32, 5000, _scores(8001, 8100)),
        (A, 7, 3, b"\x05" * 32, 5000, _scores(8000, 8100, failed=True)),  # a spot-check flag
        (A, 7, 3, b"\x05" * 32, 5000, _scores(8000)),  # a score left out
        (A, 7, 3, b"\x05" * 32, 5000, _scores(8000, 8100, 0)),  # one more
        (A, 7, 3, b"\x05" * 32, 5000, list(reversed(_scores(8000, 8100)))),  # another order
    ]
    digests = {logic.compute_attestation_commitment(*args) for args in changed}
    assert base not in digests and len(digests) == len(changed)


def test_the_commitment_ignores_unknown_fields_but_binds_the_known_ones() -> None:
    score = _scores(8000)[0]
    with_unknown = committee_pb2.UpdateScore.FromString(score.SerializeToString() + b"\xf8\x07\x01")
    base = logic.compute_attestation_commitment(A, 7, 3, b"\x05" * 32, 5000, [score])
    assert logic.compute_attestation_commitment(A, 7, 3, b"\x05" * 32, 5000, [with_unknown]) == base


@pytest.mark.parametrize(
    ("start", "end", "reveal_blocks", "reveal_start"),
    [
        (10, 19, 4, 16),  # 10 blocks: commit 10-15, reveal 16-19
        (10, 11, 4, 11),  # 2 blocks: one each
        (10, 12, 4, 12),  # 3 blocks: commit 2, reveal 1
        (10, 109, 4, 106),  # a long phase keeps the reveal window at its parameter
        (10, 10, 4, 10),  # 1 block (refused at posting): the reveal window still has one block
    ],
)
def test_the_reveal_window_is_the_score_phases_tail(
    start: int, end: int, reveal_blocks: int, reveal_start: int
) -> None:
    assert logic.compute_reveal_start(start, end, reveal_blocks) == reveal_start


@pytest.mark.parametrize("blocks", [0, 10_001])
def test_a_reveal_window_outside_1_to_10000_blocks_is_refused(blocks: int) -> None:
    params = default_params()
    params.attest_reveal_blocks = blocks
    with pytest.raises(ValueError, match="attest_reveal_blocks"):
        validate_params(params)
    validate_params(default_params())
