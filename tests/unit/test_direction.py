"""The direction test: integer cosine and norm ratio, the members' row samples, the verdict and stray
rules of app.modules.committee.logic, the reference update and the targeted attack."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.fixedpoint import FixedPointError, compute_cosine_bps, compute_norm_ratio_bps
from app.ml.attacks import parse_worker_attack
from app.ml.scoring import compute_reference_update, count_scoring_passes, score_directions
from app.ml.train import TrainConfig
from app.modules.committee import logic
from app.modules.committee.logic import DirectionRule, MemberScores, StrayTolerances
from synod.committee.v1 import committee_pb2

ACCEPTED, FAILED_DIRECTION = committee_pb2.VERDICT_ACCEPTED, committee_pb2.VERDICT_FAILED_DIRECTION
RULE = DirectionRule(min_direction_bps=-1_000, max_norm_ratio_bps=80_000)
W1, W2, W3 = b"w1", b"w2", b"w3"


def test_the_integer_cosine_is_exact_signed_and_bounded() -> None:
    a = np.array([3, 4, 0], dtype=np.int64)
    assert compute_cosine_bps(a, a) == 10_000
    assert compute_cosine_bps(a, -a) == -10_000
    assert compute_cosine_bps(a, np.array([4, -3, 0])) == 0
    assert compute_cosine_bps(a, np.array([3, 0, 0])) == 6_000  # 9 / (5 * 3)
    assert compute_cosine_bps(a, np.zeros(3, np.int64)) == 0
    big = np.full(1000, 1 << 15, dtype=np.int64)  # the largest int16 entries: no overflow
    assert compute_cosine_bps(big, big) == 10_000
    with pytest.raises(FixedPointError):
        compute_cosine_bps(a, np.zeros(2, np.int64))


def test_the_norm_ratio_is_relative_to_the_reference_norm() -> None:
    u = np.array([6, 8], dtype=np.int64)
    assert compute_norm_ratio_bps(u, 25) == 20_000  # |u| = 10 over 5
    assert compute_norm_ratio_bps(u, 100) == 10_000


def test_score_directions_uses_the_upper_median_norm_so_a_few_large_updates_cannot_move_it() -> None:
    reference = np.array([1, 0], dtype=np.int64)
    updates = [np.array([1, 0]), np.array([2, 0]), np.array([-100, 0])]
    assert score_directions(updates, reference) == [(10_000, 5_000), (10_000, 10_000), (-10_000, 500_000)]


def test_every_member_scores_its_own_checkable_sample() -> None:
    seed = b"s" * 32
    a = logic.compute_eval_sample(seed, 1, 2, b"member-a", 100, 16)
    b = logic.compute_eval_sample(seed, 1, 2, b"member-b", 100, 16)
    assert a == logic.compute_eval_sample(seed, 1, 2, b"member-a", 100, 16)  # anyone can recompute it
    assert a != b and len(a) == len(b) == 16 and a == sorted(a) and len(set(a)) == 16
    assert a != logic.compute_eval_sample(seed, 1, 3, b"member-a", 100, 16)  # a new round, new rows
    assert logic.compute_eval_sample(seed, 1, 2, b"member-a", 10, 16) == list(range(10))
    assert logic.compute_eval_sample(seed, 1, 2, b"member-a", 10, 0) == list(range(10))


def test_the_stray_tolerance_widens_with_sampling_noise_only() -> None:
    assert logic.compute_stray_tolerance_bps(500, 0) == 500
    assert logic.compute_stray_tolerance_bps(500, 16) == 5_000  # four standard deviations at p = 1/2
    assert logic.compute_stray_tolerance_bps(500, 1_000_000) == 500
    assert logic.compute_stray_tolerances(500, 16, False) == StrayTolerances(5_000, 5_000, None)
    assert logic.compute_stray_tolerances(500, 16, True) == StrayTolerances(5_000, 5_000, 10_000)
    assert logic.compute_stray_tolerances(500, 0, True) == StrayTolerances(500, 500, 1_000)


def _member(op: bytes, scores: dict[bytes, int], moves: dict[bytes, tuple[int, int]]) -> MemberScores:
    return MemberScores(op, 1, 5_000, {w: (s, False) for w, s in scores.items()}, moves)


def test_a_median_direction_below_the_minimum_fails_even_with_a_good_score() -> None:
    scores = {W1: 8_000, W2: 8_000, W3: 8_000}
    moves = {W1: (3_000, 10_000), W2: (2_000, 9_000), W3: (-4_000, 10_000)}
    bad = {**moves, W3: (10_000, 10_000)}  # one member vouches for W3: outvoted
    attested = [_member(b"a", scores, moves), _member(b"b", scores, moves), _member(b"c", scores, bad)]
    verdicts = logic.compute_verdicts([W1, W2, W3], attested, set(), 1_000, RULE)
    assert {w: v for w, (v, _) in verdicts.updates.items()} == {
        W1: ACCEPTED,
        W2: ACCEPTED,
        W3: FAILED_DIRECTION,
    }
    # Without the rule the same attestations accept everything: the test is what catches W3.
    plain = logic.compute_verdicts([W1, W2, W3], attested, set(), 1_000)
    assert all(v == ACCEPTED for v, _ in plain.updates.values())
    faults = logic.compute_member_faults(
        [b"a", b"b", b"c"], attested, verdicts, StrayTolerances(500, 500, 5_000)
    )
    assert faults[b"c"] == (True, 14_000) and not faults[b"a"][0] and not faults[b"b"][0]


def test_the_norm_bound_fails_an_update_half_the_members_find_too_large() -> None:
    scores = {W1: 8_000, W2: 8_000}
    big = {W1: (5_000, 10_000), W2: (5_000, 80_001)}
    small = {W1: (5_000, 10_000), W2: (5_000, 10_000)}
    two_say_big = [_member(b"a", scores, big), _member(b"b", scores, big), _member(b"c", scores, small)]
    one_says_big = [_member(b"a", scores, big), _member(b"b", scores, small), _member(b"c", scores, small)]
    assert (
        logic.compute_verdicts([W1, W2], two_say_big, set(), 1_000, RULE).updates[W2][0] == FAILED_DIRECTION
    )
    assert logic.compute_verdicts([W1, W2], one_says_big, set(), 1_000, RULE).updates[W2][0] == ACCEPTED


def test_score_drops_are_paired_per_member_so_row_samples_do_not_fail_honest_updates() -> None:
    # Member b scored an easier sample: every number is 2000 higher, the drops are the same.
    a = MemberScores(b"a", 1, 5_000, {W1: (8_000, False), W2: (7_500, False), W3: (5_500, False)})
    b = MemberScores(b"b", 1, 7_000, {W1: (10_000, False), W2: (9_500, False), W3: (7_500, False)})
    c = MemberScores(b"c", 1, 5_000, {W1: (8_000, False), W2: (7_500, False), W3: (5_500, False)})
    verdicts = logic.compute_verdicts([W1, W2, W3], [a, b, c], set(), 1_000)
    assert [verdicts.updates[w][0] for w in (W1, W2, W3)] == [
        ACCEPTED,
        ACCEPTED,
        committee_pb2.VERDICT_FAILED_SCORE,
    ]
    faults = logic.compute_member_faults([b"a", b"b", b"c"], [a, b, c], verdicts, StrayTolerances(500, 5_000))
    assert not any(faulty for faulty, _ in faults.values())  # b's absolute offset is sampling noise
    lazy = MemberScores(b"c", 1, 5_000, {W1: (5_000, False), W2: (5_000, False), W3: (5_000, False)})
    faults = logic.compute_member_faults(
        [b"a", b"b", b"c"], [a, b, lazy], verdicts, StrayTolerances(500, 5_000)
    )
    assert faults[b"c"][0]  # one guess for everything: its drops are all 0, the median's is 2500 for W3


def test_the_reference_update_moves_the_model_toward_the_evaluation_rows() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    weights = np.zeros(4 * 2 + 2, dtype=np.int64)
    config = TrainConfig("sgd", 0.5, 16, 2, 0)
    reference = compute_reference_update("logreg", weights, x, y, config)
    again = compute_reference_update("logreg", weights, x, y, config)
    assert np.array_equal(reference, again) and np.any(reference != 0)
    flipped = compute_reference_update("logreg", weights, x, 1 - y, config)
    assert compute_cosine_bps(reference, flipped) < -5_000  # label flipping points the other way
    assert count_scoring_passes(updates=10, rows=16, reference_rows=16, epochs=1) == 11 * 16 + 48 + 10


def test_the_targeted_attack_relabels_only_its_class() -> None:
    attack = parse_worker_attack("targeted:target=1")
    y = np.array([0, 1, 2, 1, 3])
    assert attack.poison_labels(y, 4).tolist() == [0, 2, 2, 2, 3]
    assert parse_worker_attack("targeted:target=1:to=0").poison_labels(y, 4).tolist() == [0, 0, 2, 0, 3]
    assert parse_worker_attack("targeted:target=7").poison_labels(y, 4).tolist() == y.tolist()
