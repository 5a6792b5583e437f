"""The near-copy rule's integer cosine, its sampling bound and its same-round / earlier-round verdicts."""

from __future__ import annotations

from decimal import Decimal, getcontext

import numpy as np
import pytest

from app.modules.committee import nearcopy
from app.modules.committee.hooks import CommitteeJudge
from app.modules.committee.keeper import CommitteeKeeper
from app.modules.committee.params import default_params
from app.state.kv import Branch, MemoryReader
from synod.tasks.v1 import tasks_pb2

getcontext().prec = 60
BUDGET = int(default_params().max_near_copy_work)
THRESHOLD = int(default_params().near_copy_threshold_bps)


def _stats(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    x, y = a.astype(object), b.astype(object)
    return int(x @ y), int(x @ x), int(y @ y)


def _cos(a: np.ndarray, b: np.ndarray) -> int:
    return nearcopy.compute_cosine_bps(*_stats(a, b))


def test_the_cosine_is_exact_and_the_threshold_test_agrees_with_it() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        a = rng.integers(-50, 50, 6)
        b = a * int(rng.integers(1, 4)) + rng.integers(-3, 4, 6)
        dot, na, nb = _stats(a, b)
        if na == 0 or nb == 0:
            continue
        exact = Decimal(dot) / (Decimal(na) * Decimal(nb)).sqrt() * 10_000
        cos = nearcopy.compute_cosine_bps(dot, na, nb)
        assert cos == int(exact)  # rounded toward zero, never off by one
        for t in (1, cos - 1, cos, cos + 1, 9_950, 10_000):
            if 0 < t <= 10_000:
                assert nearcopy.is_near_copy(dot, na, nb, t) == (cos >= t and dot > 0), (a, b, t)


def test_the_boundary_is_decided_exactly() -> None:
    # cos((3, 4), (1, 0)) = 0.6 exactly: 6000 bps is a near copy, 6001 is not.
    dot, na, nb = 3, 25, 1
    assert nearcopy.is_near_copy(dot, na, nb, 6_000) and not nearcopy.is_near_copy(dot, na, nb, 6_001)
    assert nearcopy.compute_cosine_bps(dot, na, nb) == 6_000


def test_cosine_is_scale_invariant_and_sign_aware() -> None:
    u = np.random.default_rng(1).integers(-2048, 2048, 500)
    for alpha in (1, 2, 7):
        assert _cos(u, alpha * u) == 10_000
        assert nearcopy.is_near_copy(*_stats(u, alpha * u), THRESHOLD)
    assert _cos(u, -3 * u) == -10_000
    assert not nearcopy.is_near_copy(*_stats(u, -u), THRESHOLD)  # a sign flip is not a copy


def test_zero_vectors_are_nobodys_copy() -> None:
    u, zero = np.arange(1, 9), np.zeros(8, dtype=np.int64)
    assert _cos(u, zero) == 0 and _cos(zero, zero) == 0
    assert not nearcopy.is_near_copy(*_stats(zero, zero), 1)
    out = nearcopy.compute_near_copies({b"a": zero, b"b": zero}, {}, THRESHOLD, BUDGET, b"s")
    assert out.excluded == frozenset()


def test_large_values_fall_back_to_exact_python_ints() -> None:
    big = np.full(4, 1 << 31, dtype=np.int64)
    rows = np.stack([big, big + 1])
    gram = nearcopy._gram(rows, rows)  # 4 x 2^62 overflows int64: Python ints instead
    assert gram[0][0] == 4 * (1 << 62) and gram[0][1] == 4 * (1 << 31) * ((1 << 31) + 1)


def test_same_round_pairs_are_excluded_unslashed_and_earlier_copies_slashed() -> None:
    rng = np.random.default_rng(2)
    honest, other, own = (rng.integers(-2048, 2048, 300) for _ in range(3))
    copy = 2 * honest + rng.integers(-4, 5, 300)
    current = {b"bob": honest, b"dave": copy, b"carol": other}
    out = nearcopy.compute_near_copies(current, {}, THRESHOLD, BUDGET, b"s")
    assert out.excluded == {b"bob", b"dave"} and out.slashed == frozenset()
    # Against the last round: a copy of another worker's kept update is slashed; one's own is not.
    kept = {b"bob": honest, b"erin": own}
    later = {b"dave": copy, b"bob": honest + rng.integers(-4, 5, 300), b"carol": other}
    out = nearcopy.compute_near_copies(later, kept, THRESHOLD, BUDGET, b"s")
    assert out.slashed == {b"dave"} and out.excluded == {b"dave", b"bob"}  # bob and dave: a pair
    out = nearcopy.compute_near_copies({b"bob": honest, b"carol": other}, kept, THRESHOLD, BUDGET, b"s")
    assert out.excluded == frozenset()  # bob's own direction again is no copy
    assert nearcopy.compute_near_copies(current, {}, 0, BUDGET, b"s").excluded == frozenset()  # rule off


@pytest.mark.parametrize("workers", [1, 2, 16, 64, 256])
@pytest.mark.parametrize("size", [10, 10_000, 1_000_000])
def test_the_sampled_work_of_a_round_never_exceeds_the_budget(workers: int, size: int) -> None:
    count = nearcopy.compute_sample_size(workers, workers, size, BUDGET)
    assert 1 <= count <= size
    assert nearcopy.compute_near_copy_work(workers, workers, count) <= BUDGET
    if nearcopy.compute_near_copy_work(workers, workers, size) <= BUDGET:
        assert count == size  # all coordinates whenever they fit


def test_a_max_size_round_is_checked_within_the_bound_on_a_seeded_sample() -> None:
    rng = np.random.default_rng(3)
    workers, size = 32, 60_000
    base = rng.integers(-2048, 2048, size)
    current = {bytes([i]) * 20: rng.integers(-2048, 2048, size) for i in range(workers - 1)}
    current[b"\xff" * 20] = 3 * base + rng.integers(-4, 5, size)
    kept = {bytes([100 + i]) * 20: rng.integers(-2048, 2048, size) for i in range(workers - 1)}
    kept[b"\xfe" * 20] = base
    out = nearcopy.compute_near_copies(current, kept, THRESHOLD, BUDGET, b"seed")
    assert out.coordinates < size and out.work <= BUDGET
    assert out.slashed == {b"\xff" * 20}  # the sample still sees the copy
    picks = nearcopy.compute_sample_indices(b"seed", size, out.coordinates)
    assert len(picks) == out.coordinates and picks.min() >= 0 and picks.max() < size
    assert np.array_equal(picks, nearcopy.compute_sample_indices(b"seed", size, out.coordinates))
    assert not np.array_equal(picks, nearcopy.compute_sample_indices(b"other", size, out.coordinates))


def test_the_sample_seed_depends_on_every_update_hash_and_the_beacon() -> None:
    hashes = [bytes([i]) * 32 for i in range(3)]
    seed = nearcopy.compute_near_copy_seed(1, 2, hashes, b"beacon")
    assert seed == nearcopy.compute_near_copy_seed(1, 2, list(reversed(hashes)), b"beacon")
    assert seed != nearcopy.compute_near_copy_seed(1, 2, hashes[:2] + [b"\x09" * 32], b"beacon")
    assert seed != nearcopy.compute_near_copy_seed(1, 2, hashes, b"other")
    assert seed != nearcopy.compute_near_copy_seed(1, 3, hashes, b"beacon")


def test_the_judge_prices_a_max_size_round_within_the_bound() -> None:
    judge = CommitteeJudge(CommitteeKeeper(), None, None)  # type: ignore[arg-type]
    task = tasks_pb2.Task(
        model=tasks_pb2.ModelSpec(arch="mlp:256-128", n_features=784, n_classes=10), max_workers=64
    )
    work = judge.get_judging_work(Branch(MemoryReader()), task, 64)
    assert 0 < work <= BUDGET
