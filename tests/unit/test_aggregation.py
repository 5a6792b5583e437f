"""Rule-specific aggregation tests: momentum state, bucket order, golden outputs, input validation.

What every rule must satisfy (float references, order independence, bounds, subprocess determinism)
lives in the conformance suite, tests/unit/test_aggregation_conformance.py.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from app.modules.tasks.aggregation import (
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
from app.modules.tasks.aggregation.base import VALUE_MAX, compute_squared_norms
from app.modules.tasks.aggregation.centered_clipping import compute_bucket_order
from tests.unit.test_aggregation_conformance import DIM, honest_vectors, make_updates

# Pinned separately from the conformance CASES, so adding a conformance case never moves the golden.
GOLDEN_CASES = [
    ("mean", MeanParams()),
    ("mean", MeanParams(max_weight=40)),
    ("median", MedianParams()),
    ("trimmed_mean", TrimmedMeanParams(trim=2)),
    ("krum", KrumParams(byzantine=1)),
    ("krum", KrumParams(byzantine=2, m=4)),
    ("centered_clipping", CenteredClippingParams(radius=1500, iterations=3)),
    ("centered_clipping", CenteredClippingParams(radius=1500, iterations=2, bucket_size=3, seed=9)),
    ("centered_clipping", CenteredClippingParams(radius=VALUE_MAX)),
]


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
    for name, params in GOLDEN_CASES:
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
    with pytest.raises(AggregationError, match="m must be between 1"):
        KrumParams(m=0)


def test_make_params_validates_names_and_values() -> None:
    assert make_params("krum", {"byzantine": 2, "m": 3}) == KrumParams(2, 3)
    assert KrumParams(byzantine=2, m=3).min_updates() == 7
    with pytest.raises(AggregationError, match="krum has no parameter f; its parameters are"):
        make_params("krum", {"f": 1})
    with pytest.raises(AggregationError, match="missing 1 required"):
        make_params("centered_clipping", {})
    with pytest.raises(AggregationError, match="radius must be an integer, got float"):
        make_params("centered_clipping", {"radius": 1.5})  # type: ignore[dict-item]


@pytest.mark.parametrize("peak", [2**15, 3_037_000_499 // 4, 2**31, 2**32 - 1])
def test_squared_norms_are_exact_on_both_sides_of_the_int64_fast_path(peak: int) -> None:
    rng = np.random.default_rng(peak)
    rows = rng.integers(-peak, peak, size=(5, 16), endpoint=True)
    rows[0, :] = peak  # 16 * peak**2 decides the path: below 2**63 one pass, else the split
    rows[1, :] = -peak
    assert compute_squared_norms(rows) == [sum(int(v) ** 2 for v in row) for row in rows]
