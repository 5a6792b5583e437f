"""One conformance suite over every registered aggregation rule, plus float64 reference checks.

Error bounds against the float64 references (all rules floor every division):
- mean, median, trimmed mean, multi-Krum: 0 <= reference - rule < 1 per coordinate (one floor).
- Krum (m = 1): exactly the reference's pick (same scores, same tie-break).
- centered clipping: ||rule - reference||_2 < 2 sqrt(d) + L (3 sqrt(d) + 1). Each floor costs < 1 per
  coordinate (< sqrt(d) in L2) and isqrt in a clip norm < 1 in L2; bucket means and the median
  start add < sqrt(d) each; a clipping iteration is nonexpansive in its centre and in its points,
  so per-iteration errors add up over the L iterations instead of compounding.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from app.modules.tasks.aggregation import (
    PARAMS,
    RULES,
    AggregationError,
    CenteredClippingParams,
    ClippingState,
    KrumParams,
    MeanParams,
    MedianParams,
    TrimmedMeanParams,
    Update,
    compute_centered_clipping_step,
    get_rule,
    make_params,
)
from app.modules.tasks.aggregation.base import VALUE_MAX, VALUE_MIN
from app.modules.tasks.aggregation.centered_clipping import compute_bucket_order

CASES = [
    ("mean", MeanParams()),
    ("mean", MeanParams(max_weight=40)),
    ("median", MedianParams()),
    ("trimmed_mean", TrimmedMeanParams(trim=2)),
    ("krum", KrumParams(byzantine=1)),
    ("krum", KrumParams(byzantine=2, selected=4)),
    ("centered_clipping", CenteredClippingParams(radius=1500, iterations=3)),
    ("centered_clipping", CenteredClippingParams(radius=1500, iterations=2, bucket_size=3, seed=9)),
    ("centered_clipping", CenteredClippingParams(radius=VALUE_MAX)),
]
IDS = [f"{name}-{index}" for index, (name, _) in enumerate(CASES)]
DIM = 16


def make_updates(vectors: np.ndarray, weights: list[int] | None = None) -> list[Update]:
    """Return updates w00, w01, ... so that worker-id order is row order."""
    weights = weights or [10 + 7 * i for i in range(len(vectors))]
    return [
        Update(f"w{i:02d}", row, weight) for i, (row, weight) in enumerate(zip(vectors, weights, strict=True))
    ]


def honest_vectors(count: int, seed: int = 0) -> np.ndarray:
    """Return int16-scale vectors: a shared centre plus per-worker noise."""
    rng = np.random.default_rng(seed)
    centre = rng.integers(-2000, 2000, size=DIM)
    return centre + rng.integers(-600, 600, size=(count, DIM))


def test_every_registered_rule_is_covered() -> None:
    assert {name for name, _ in CASES} == set(RULES) == set(PARAMS)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_shape_dtype_and_determinism(name: str, params: object) -> None:
    updates = make_updates(honest_vectors(9))
    first = get_rule(name)(updates, params)
    assert first.shape == (DIM,) and first.dtype == np.int64
    np.testing.assert_array_equal(first, get_rule(name)(make_updates(honest_vectors(9)), params))
    shuffled = [updates[i] for i in np.random.default_rng(1).permutation(len(updates))]
    np.testing.assert_array_equal(first, get_rule(name)(shuffled, params))


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
@pytest.mark.parametrize("value", [VALUE_MIN, VALUE_MAX, -(2**15), 2**15 - 1, 12345])
def test_all_equal_updates_return_that_update(name: str, params: object, value: int) -> None:
    vector = np.full(DIM, value, dtype=np.int64)
    vector[::3] = -7
    updates = make_updates(np.stack([vector] * 9))
    np.testing.assert_array_equal(get_rule(name)(updates, params), vector)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_extreme_values_do_not_overflow(name: str, params: object) -> None:
    rng = np.random.default_rng(5)
    vectors = rng.choice([VALUE_MIN, VALUE_MAX, VALUE_MIN + 1, VALUE_MAX - 1, 0], size=(9, DIM))
    updates = make_updates(vectors, [2**28] * 7 + [1, 3])  # total weight just under 2**31
    result = get_rule(name)(updates, params)
    # An int64 wrap-around would land far outside the inputs' per-coordinate range.
    assert np.all(result >= vectors.min(axis=0)) and np.all(result <= vectors.max(axis=0))
    if name == "mean" and params == MeanParams():
        weights = [u.weight for u in updates]
        exact = [
            sum(w * int(v) for w, v in zip(weights, column, strict=True)) // sum(weights)
            for column in vectors.T
        ]
        assert result.tolist() == exact


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_too_few_updates_raise(name: str, params: object) -> None:
    with pytest.raises(AggregationError, match="at least"):
        get_rule(name)([], params)
    need = params.min_updates()  # type: ignore[attr-defined]
    if need > 1:
        with pytest.raises(AggregationError, match=f"needs at least {need}"):
            get_rule(name)(make_updates(honest_vectors(need - 1)), params)


# Float64 references: the same algorithms written directly, rows in worker-id order.


def reference_mean(x: np.ndarray, weights: list[int], params: MeanParams) -> np.ndarray:
    w = np.array([min(v, params.max_weight) if params.max_weight else v for v in weights], float)
    return (w[:, None] * x).sum(axis=0) / w.sum()


def reference_trimmed(x: np.ndarray, trim: int) -> np.ndarray:
    return np.sort(x, axis=0)[trim : len(x) - trim].mean(axis=0)


def reference_krum(x: np.ndarray, params: KrumParams) -> np.ndarray:
    distances = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    keep = len(x) - params.byzantine - 2
    scores = [np.sort(np.delete(row, i))[:keep].sum() for i, row in enumerate(distances)]
    best = np.argsort(scores, kind="stable")[: params.selected]
    return x[best].mean(axis=0)


def reference_clipping(x: np.ndarray, params: CenteredClippingParams) -> np.ndarray:
    if params.bucket_size > 1:
        order = compute_bucket_order([f"w{i:02d}" for i in range(len(x))], params.seed)
        cuts = range(0, len(order), params.bucket_size)
        x = np.stack([x[order[c : c + params.bucket_size]].mean(axis=0) for c in cuts])
    centre = np.median(x, axis=0)
    for _ in range(params.iterations):
        offsets = x - centre
        norms = np.linalg.norm(offsets, axis=1, keepdims=True)
        scale = np.minimum(1.0, params.radius / np.maximum(norms, 1e-300))
        centre = centre + (offsets * scale).mean(axis=0)
    return centre


def reference(name: str, x: np.ndarray, weights: list[int], params: object) -> np.ndarray:
    if name == "mean":
        return reference_mean(x, weights, params)  # type: ignore[arg-type]
    if name == "median":
        return np.median(x, axis=0)
    if name == "trimmed_mean":
        return reference_trimmed(x, params.trim)  # type: ignore[attr-defined]
    if name == "krum":
        return reference_krum(x, params)  # type: ignore[arg-type]
    return reference_clipping(x, params)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("count", [9, 10])
def test_matches_float_reference(name: str, params: object, seed: int, count: int) -> None:
    vectors = honest_vectors(count, seed)
    updates = make_updates(vectors)
    result = get_rule(name)(updates, params).astype(float)
    expected = reference(name, vectors.astype(float), [u.weight for u in updates], params)
    if name == "centered_clipping":
        iterations = params.iterations  # type: ignore[attr-defined]
        bound = 2 * np.sqrt(DIM) + iterations * (3 * np.sqrt(DIM) + 1)
        assert np.linalg.norm(result - expected) < bound
    elif name == "krum" and params.selected == 1:  # type: ignore[attr-defined]
        np.testing.assert_array_equal(result, expected)
    else:
        assert np.all(expected - result > -1e-9) and np.all(expected - result < 1)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_one_huge_outlier(name: str, params: object) -> None:
    honest = honest_vectors(9, seed=3)
    outlier = np.full((1, DIM), VALUE_MAX)
    result = get_rule(name)(make_updates(np.vstack([honest, outlier]), [10] * 10), params)
    honest_mean = honest.mean(axis=0)
    distance = np.abs(result - honest_mean).max()
    # Robust: no farther from the honest mean than the farthest honest update is.
    honest_spread = np.abs(honest - honest_mean).max()
    unclipped = name == "centered_clipping" and params.radius == VALUE_MAX  # type: ignore[attr-defined]
    if name == "mean" or unclipped:
        assert distance > 10**7
    else:
        assert distance <= honest_spread


def test_centered_clipping_momentum_and_state() -> None:
    params = CenteredClippingParams(radius=1500, iterations=2, momentum_bps=9000)
    first = make_updates(honest_vectors(6, seed=0))
    aggregate, state = compute_centered_clipping_step(first, params, ClippingState())
    np.testing.assert_array_equal(state.reference, aggregate)
    assert list(state.momenta) == [u.worker for u in first]
    second = make_updates(honest_vectors(6, seed=1))[1:]  # w00 withholds this round
    aggregate2, state2 = compute_centered_clipping_step(second, params, state)
    np.testing.assert_array_equal(state2.momenta["w00"], state.momenta["w00"])
    for update in second:
        expected = 0.9 * state.momenta[update.worker] + 0.1 * update.vector
        difference = expected - state2.momenta[update.worker]
        assert np.all(difference > -1e-9) and np.all(difference < 1)
    again, _ = compute_centered_clipping_step(second[::-1], params, state)
    np.testing.assert_array_equal(again, aggregate2)


def test_bucket_order_is_a_seeded_permutation() -> None:
    workers = [f"w{i:02d}" for i in range(12)]
    order = compute_bucket_order(workers, 4)
    assert sorted(order) == list(range(12))
    assert order == compute_bucket_order(workers, 4) != compute_bucket_order(workers, 5)


def test_golden_outputs_are_pinned() -> None:
    """Pins every case's output on a fixed input, so any platform or refactor drift shows up."""
    # Built by arithmetic rather than a generator, so a numpy upgrade cannot change the input.
    rows, cols = np.indices((10, DIM))
    updates = make_updates((rows * 131 + cols * 31) ** 2 % 4001 - 2000)
    digest = hashlib.sha256()
    for name, params in CASES:
        digest.update(get_rule(name)(updates, params).astype("<i8").tobytes())
    assert digest.hexdigest() == "aafd73ce41f82e51e82b233a393ea543a2b5fc89fd6ac99636008b1fce5ec5ca"


def test_bad_inputs_are_rejected_with_clear_errors() -> None:
    vectors = honest_vectors(3)
    with pytest.raises(AggregationError, match="unknown aggregation rule 'avg'; choose one of"):
        get_rule("avg")
    with pytest.raises(AggregationError, match="quantize it to integers"):
        Update("w", vectors[0].astype(np.float32), 1)
    with pytest.raises(AggregationError, match="outside the int32 range"):
        Update("w", np.array([2**31]), 1)
    with pytest.raises(AggregationError, match="weight must be between 1"):
        Update("w", vectors[0], 0)
    updates = make_updates(vectors)
    with pytest.raises(AggregationError, match="more than one update"):
        get_rule("median")([updates[0], updates[0]], MedianParams())
    with pytest.raises(AggregationError, match="has length 3, expected 16"):
        get_rule("median")([updates[0], Update("x", vectors[1][:3], 1)], MedianParams())
    with pytest.raises(AggregationError, match="expected MeanParams, got MedianParams"):
        get_rule("mean")(updates, MedianParams())
    with pytest.raises(AggregationError, match="set max_weight"):
        get_rule("mean")(make_updates(vectors, [2**31, 1, 1]), MeanParams())
    with pytest.raises(AggregationError, match="trim must be between 0"):
        TrimmedMeanParams(trim=-1)


def test_make_params_validates_names_and_values() -> None:
    assert make_params("krum", {"byzantine": 2, "selected": 3}) == KrumParams(2, 3)
    with pytest.raises(AggregationError, match="krum has no parameter f; its parameters are"):
        make_params("krum", {"f": 1})
    with pytest.raises(AggregationError, match="missing 1 required"):
        make_params("centered_clipping", {})
    with pytest.raises(AggregationError, match="radius must be an integer, got float"):
        make_params("centered_clipping", {"radius": 1.5})  # type: ignore[dict-item]
