"""One conformance suite run over every registered aggregation rule (STYLE.md principle 8).

Each rule is checked against a float64 reference written here from the papers, independently of the
integer code, within the error its integer rounding allows. With x the reference and q the rule:

- mean, trimmed mean, multi-Krum: 0 <= x - q < 1 per coordinate. The integer sums are exact and the
  single division floors, so q = floor(x).
- median: 0 <= x - q <= 1/2. Odd counts pick an input exactly; even counts floor (a + b) / 2.
- Krum (m = 1): q = x exactly. Scores are exact integers (float64 is exact below 2**53 on these
  inputs) and both break ties by worker id, so both pick the same update.
- centered clipping with L iterations, d coordinates: ||x - q||_2 < 1.5 sqrt(d) + L (2 sqrt(d) + 1),
  plus L sqrt(d) with bucketing. Bucket means floor (< sqrt(d) in L2), so the median start is off by
  < 1.5 per coordinate. One step v + mean_i clip(y_i - v) moves at most sqrt(|dv|**2 + |dy|**2) when v
  and the points move by dv and dy (projection onto a ball is firmly nonexpansive), and its integer
  form adds < 2 sqrt(d) + 1: isqrt in the clip norm (< 1), the clip's floor and the mean's floor
  (< sqrt(d) each).

Every rule's output also lies coordinate-wise between the smallest and largest input (the clipped
offsets of centered clipping only shrink toward the centre), so int16 updates within the chain's
UPDATE_FORMAT bound aggregate to a vector within it, which compute_next_weights then adds.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT, compute_next_weights
from app.modules.tasks.aggregation import (
    PARAMS,
    RULES,
    AggregationError,
    CenteredClippingParams,
    KrumParams,
    MeanParams,
    MedianParams,
    TrimmedMeanParams,
    Update,
    get_rule,
)
from app.modules.tasks.aggregation.base import VALUE_MAX, VALUE_MIN

CASES = [
    ("mean", MeanParams()),
    ("mean", MeanParams(max_weight=40)),
    ("median", MedianParams()),
    ("trimmed_mean", TrimmedMeanParams(trim=2)),
    ("krum", KrumParams(byzantine=1)),
    ("krum", KrumParams(byzantine=2, m=4)),
    ("centered_clipping", CenteredClippingParams(radius=1500, iterations=3)),
    ("centered_clipping", CenteredClippingParams(radius=1500, iterations=2, bucket_size=3, seed=9)),
    ("centered_clipping", CenteredClippingParams(radius=VALUE_MAX)),
    ("centered_clipping", CenteredClippingParams(radius=5, iterations=8, bucket_size=2, seed=3)),
]
IDS = [f"{name}-{index}" for index, (name, _) in enumerate(CASES)]
DIM = 16
BOUND = UPDATE_FORMAT.bound
# Hypothesis runs every case; a modest example count keeps the whole suite within seconds.
PROPERTY = settings(max_examples=40, deadline=None)


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


def run_all(inputs: dict[str, np.ndarray]) -> bytes:
    """Return every case's output on every input matrix, as little-endian int64 bytes."""
    return b"".join(
        get_rule(name)(make_updates(inputs[key]), params).astype("<i8").tobytes()
        for key in sorted(inputs)
        for name, params in CASES
    )


# Float64 references, written from the papers. Rows are in worker-id order (row i is worker w{i:02d}).


def reference_mean(x: np.ndarray, weights: list[int], params: MeanParams) -> np.ndarray:
    """FedAvg: the sample-count-weighted mean, each count capped at max_weight when it is set."""
    w = np.array([min(v, params.max_weight) if params.max_weight else v for v in weights], float)
    return (w[:, None] * x).sum(axis=0) / w.sum()


def reference_median(x: np.ndarray, weights: list[int], params: MedianParams) -> np.ndarray:
    """Coordinate-wise median."""
    return np.median(x, axis=0)


def reference_trimmed_mean(x: np.ndarray, weights: list[int], params: TrimmedMeanParams) -> np.ndarray:
    """Per coordinate, the mean after dropping the trim smallest and trim largest values."""
    return np.sort(x, axis=0)[params.trim : len(x) - params.trim].mean(axis=0)


def reference_krum(x: np.ndarray, weights: list[int], params: KrumParams) -> np.ndarray:
    """Krum / multi-Krum: mean of the m rows with the least sum of n - f - 2 nearest squared distances."""
    distances = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    keep = len(x) - params.byzantine - 2
    scores = [np.sort(np.delete(row, i))[:keep].sum() for i, row in enumerate(distances)]
    best = np.argsort(scores, kind="stable")[: params.m]
    return x[best].mean(axis=0)


def reference_bucket_order(count: int, seed: int) -> list[int]:
    """The spec's bucket order: rows sorted by sha256(domain, 8-byte big-endian seed, worker id)."""
    prefix = b"synod/aggregation/centered-clipping/bucket" + seed.to_bytes(8, "big")
    workers = [f"w{i:02d}" for i in range(count)]
    return sorted(range(count), key=lambda i: (hashlib.sha256(prefix + workers[i].encode()).digest(), i))


def reference_centered_clipping(
    x: np.ndarray, weights: list[int], params: CenteredClippingParams
) -> np.ndarray:
    """Centered clipping from the median of the bucket means, without momentum (no history)."""
    if params.bucket_size > 1:
        order = reference_bucket_order(len(x), params.seed)
        cuts = range(0, len(order), params.bucket_size)
        x = np.stack([x[order[c : c + params.bucket_size]].mean(axis=0) for c in cuts])
    centre = np.median(x, axis=0)
    for _ in range(params.iterations):
        offsets = x - centre
        norms = np.linalg.norm(offsets, axis=1, keepdims=True)
        scale = np.minimum(1.0, params.radius / np.where(norms > 0, norms, np.inf))
        centre = centre + (offsets * scale).mean(axis=0)
    return centre


REFERENCES = {
    "centered_clipping": reference_centered_clipping,
    "krum": reference_krum,
    "mean": reference_mean,
    "median": reference_median,
    "trimmed_mean": reference_trimmed_mean,
}


def assert_within_quantization_error(name: str, params: object, result: np.ndarray, x: np.ndarray) -> None:
    """Assert the rule's result is within the bound the module docstring states for that rule."""
    gap = x - result.astype(float)
    slack = 1e-9 * max(1.0, float(np.abs(x).max()))  # float64 rounding of the reference itself
    if name == "centered_clipping":
        d, iterations = len(x), params.iterations  # type: ignore[attr-defined]
        bound = 1.5 * math.sqrt(d) + iterations * (2 * math.sqrt(d) + 1)
        if params.bucket_size > 1:  # type: ignore[attr-defined]
            bound += iterations * math.sqrt(d)
        assert np.linalg.norm(gap) < bound
    elif name == "krum" and params.m == 1:  # type: ignore[attr-defined]
        np.testing.assert_array_equal(result, x)
    else:
        ceiling = 0.5 if name == "median" else 1.0
        assert np.all(gap > -slack) and np.all(gap < ceiling + slack), (gap.min(), gap.max())


def check_against_reference(name: str, params: object, vectors: np.ndarray, weights: list[int]) -> None:
    """Run the rule and its reference on the same rows and compare them."""
    result = get_rule(name)(make_updates(vectors, weights), params)
    expected = REFERENCES[name](vectors.astype(float), weights, params)  # type: ignore[operator]
    assert_within_quantization_error(name, params, result, expected)


@st.composite
def update_sets(draw: st.DrawFn, need: int) -> tuple[np.ndarray, list[int]]:
    """Draw at least need int16 updates within the UPDATE_FORMAT bound, and their sample counts."""
    count = draw(st.integers(need, need + 6))
    dimension = draw(st.integers(1, 6))
    # Small spreads make ties and equal rows likely; the full range reaches the bound.
    spread = draw(st.sampled_from([0, 3, 300, BOUND]))
    centre = draw(st.integers(-BOUND + spread, BOUND - spread))
    values = draw(
        st.lists(st.integers(-spread, spread), min_size=count * dimension, max_size=count * dimension)
    )
    weights = draw(st.lists(st.integers(1, 1000), min_size=count, max_size=count))
    return centre + np.array(values, dtype=np.int64).reshape(count, dimension), weights


def test_every_registered_rule_has_a_case_and_a_reference() -> None:
    assert {name for name, _ in CASES} == set(RULES) == set(PARAMS) == set(REFERENCES)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("count", [9, 10])
def test_matches_float_reference(name: str, params: object, seed: int, count: int) -> None:
    vectors = honest_vectors(count, seed)
    check_against_reference(name, params, vectors, [10 + 7 * i for i in range(count)])


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
@PROPERTY
@given(data=st.data())
def test_matches_float_reference_on_any_input(name: str, params: object, data: st.DataObject) -> None:
    vectors, weights = data.draw(update_sets(params.min_updates()))  # type: ignore[attr-defined]
    check_against_reference(name, params, vectors, weights)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
@PROPERTY
@given(data=st.data())
def test_independent_of_input_order(name: str, params: object, data: st.DataObject) -> None:
    vectors, weights = data.draw(update_sets(params.min_updates()))  # type: ignore[attr-defined]
    updates = make_updates(vectors, weights)
    shuffled = data.draw(st.permutations(updates))
    np.testing.assert_array_equal(get_rule(name)(updates, params), get_rule(name)(shuffled, params))


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
@PROPERTY
@given(data=st.data())
def test_stays_within_the_inputs_and_the_update_bound(name: str, params: object, data: st.DataObject) -> None:
    vectors, weights = data.draw(update_sets(params.min_updates()))  # type: ignore[attr-defined]
    result = get_rule(name)(make_updates(vectors, weights), params)
    assert result.dtype == np.int64 and result.shape == (vectors.shape[1],)
    assert np.all(result >= vectors.min(axis=0)) and np.all(result <= vectors.max(axis=0))
    UPDATE_FORMAT.check_range(result)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
@pytest.mark.parametrize("value", [VALUE_MIN, VALUE_MAX, -BOUND, BOUND, -(2**15), 2**15 - 1, 0, 12345])
def test_all_equal_updates_return_that_update(name: str, params: object, value: int) -> None:
    vector = np.full(DIM, value, dtype=np.int64)
    vector[::3] = -7
    updates = make_updates(np.stack([vector] * 9))
    np.testing.assert_array_equal(get_rule(name)(updates, params), vector)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_int32_extremes_do_not_overflow(name: str, params: object) -> None:
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
def test_update_bound_extremes_keep_the_chain_step_in_range(name: str, params: object) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.choice([-BOUND, BOUND, -BOUND + 1, BOUND - 1], size=(9, DIM))
    aggregate = get_rule(name)(make_updates(vectors), params)
    UPDATE_FORMAT.check_range(aggregate)
    weights = np.full(DIM, WEIGHT_FORMAT.bound - 1, dtype=np.int64)
    weights[::2] = -WEIGHT_FORMAT.bound
    WEIGHT_FORMAT.check_range(compute_next_weights(weights, aggregate))


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_too_few_updates_raise_a_clear_error(name: str, params: object) -> None:
    need = params.min_updates()  # type: ignore[attr-defined]
    with pytest.raises(AggregationError, match=f"{name} needs at least {need} updates but got 0"):
        get_rule(name)([], params)
    if need > 1:
        with pytest.raises(AggregationError, match=f"needs at least {need} updates but got {need - 1}"):
            get_rule(name)(make_updates(honest_vectors(need - 1)), params)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_one_update_is_returned_or_refused(name: str, params: object) -> None:
    update = make_updates(honest_vectors(1))
    if params.min_updates() == 1:  # type: ignore[attr-defined]
        np.testing.assert_array_equal(get_rule(name)(update, params), update[0].vector)
    else:
        with pytest.raises(AggregationError, match="needs at least"):
            get_rule(name)(update, params)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_one_huge_outlier(name: str, params: object) -> None:
    honest = honest_vectors(9, seed=3)
    outlier = np.full((1, DIM), VALUE_MAX)
    result = get_rule(name)(make_updates(np.vstack([honest, outlier]), [10] * 10), params)
    honest_mean = honest.mean(axis=0)
    distance = np.abs(result - honest_mean).max()
    # Robust rules stay no farther from the honest mean than the farthest honest update is.
    honest_spread = np.abs(honest - honest_mean).max()
    unclipped = name == "centered_clipping" and params.radius == VALUE_MAX  # type: ignore[attr-defined]
    if name == "mean" or unclipped:
        assert distance > 10**7
    else:
        assert distance <= honest_spread


_CHILD = """
import io, sys
import numpy as np
from tests.unit.test_aggregation_conformance import run_all
inputs = np.load(io.BytesIO(sys.stdin.buffer.read()))
sys.stdout.buffer.write(run_all({key: inputs[key] for key in inputs.files}))
"""


def test_same_bytes_in_a_fresh_process() -> None:
    """A validator is another process (another hash seed, a cold import): it must get the same bytes."""
    rng = np.random.default_rng(11)
    inputs = {
        "honest": honest_vectors(10, seed=4),
        "int32": rng.choice([VALUE_MIN, VALUE_MAX, 0, 1, -1], size=(9, DIM)),
        "update_bound": rng.integers(-BOUND, BOUND + 1, size=(11, DIM)),
    }
    buffer = io.BytesIO()
    np.savez(buffer, **inputs)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONHASHSEED": "2718", "PYTHONPATH": str(root)}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=buffer.getvalue(),
        capture_output=True,
        cwd=root,
        env=env,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr.decode()
    assert child.stdout == run_all(inputs)
