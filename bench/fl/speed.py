"""Aggregation speed: each integer rule the chain runs against a float64 numpy version of the same rule.

Both sides get the same update matrix (int16-scale values, as workers send them); the float side is
what an off-chain aggregator such as Flower's would compute, vectorized the usual way (Krum through
the Gram matrix). Speed is updates x parameters aggregated per second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.modules.tasks.aggregation import (
    CenteredClippingParams,
    KrumParams,
    MeanParams,
    MedianParams,
    TrimmedMeanParams,
    Update,
    get_rule,
)

__all__ = ["SIZES", "SpeedCase", "SpeedResult", "SPEED_CASES", "measure"]

FloatRule = Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]
SIZES = ((8, 650), (32, 650), (8, 10_000), (32, 10_000))  # (updates, parameters); 650 is logreg on digits
RADIUS = 4096  # 1.0 in the update format's units


def _float_mean(x: NDArray[np.float64], w: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the sample-count-weighted mean."""
    result: NDArray[np.float64] = (w @ x) / w.sum()
    return result


def _float_median(x: NDArray[np.float64], w: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the coordinate-wise median."""
    return np.median(x, axis=0)


def _float_trimmed_mean(trim: int) -> FloatRule:
    """Return the float trimmed mean with trim values cut on each side."""
    return lambda x, w: np.sort(x, axis=0)[trim : len(x) - trim].mean(axis=0)


def _float_krum(byzantine: int, m: int) -> FloatRule:
    """Return float (multi-)Krum, distances from the Gram matrix."""

    def krum(x: NDArray[np.float64], w: NDArray[np.float64]) -> NDArray[np.float64]:
        norms = (x * x).sum(axis=1)
        distances = norms[:, None] + norms[None, :] - 2 * (x @ x.T)
        np.fill_diagonal(distances, np.inf)
        scores = np.sort(distances, axis=1)[:, : len(x) - byzantine - 2].sum(axis=1)
        return x[np.argsort(scores, kind="stable")[:m]].mean(axis=0)

    return krum


def _float_centered_clipping(radius: float, iterations: int) -> FloatRule:
    """Return float centered clipping from the coordinate-wise median."""

    def clip(x: NDArray[np.float64], w: NDArray[np.float64]) -> NDArray[np.float64]:
        centre = np.median(x, axis=0)
        for _ in range(iterations):
            offsets = x - centre
            norms = np.linalg.norm(offsets, axis=1, keepdims=True)
            centre = centre + (offsets * np.minimum(1.0, radius / np.maximum(norms, 1e-12))).mean(axis=0)
        return centre

    return clip


@dataclass(frozen=True)
class SpeedCase:
    """A rule with its parameters and its float counterpart."""

    label: str
    rule: str
    params: object
    reference: FloatRule


SPEED_CASES = [
    SpeedCase("mean (FedAvg)", "mean", MeanParams(), _float_mean),
    SpeedCase("median", "median", MedianParams(), _float_median),
    SpeedCase("trimmed mean (trim 1)", "trimmed_mean", TrimmedMeanParams(trim=1), _float_trimmed_mean(1)),
    SpeedCase("krum (f 1)", "krum", KrumParams(byzantine=1), _float_krum(1, 1)),
    SpeedCase("multi-krum (f 1, m 4)", "krum", KrumParams(byzantine=1, m=4), _float_krum(1, 4)),
    SpeedCase(
        "centered clipping (3 iterations)",
        "centered_clipping",
        CenteredClippingParams(radius=RADIUS, iterations=3),
        _float_centered_clipping(RADIUS, 3),
    ),
]


@dataclass(frozen=True)
class SpeedResult:
    """Entries (updates x parameters) aggregated per second by the integer rule and the float one."""

    case: SpeedCase
    updates: int
    params: int
    integer_per_s: float
    float_per_s: float

    @property
    def ratio(self) -> float:
        """Return integer speed / float speed (ours / theirs)."""
        return self.integer_per_s / self.float_per_s


def _best_seconds(
    first: Callable[[], object], second: Callable[[], object], budget_s: float
) -> tuple[float, float]:
    """Return the fastest wall time of each call, alternating them (after a warm-up) for about budget_s.

    Alternating puts both under the same background load, and the minimum is the run least disturbed
    by it; on a shared 2-core machine a median drifts with whatever else runs.
    """
    first(), second()
    best = [float("inf"), float("inf")]
    deadline = time.perf_counter() + budget_s
    runs = 0
    while runs < 5 or time.perf_counter() < deadline:
        for index, call in enumerate((first, second)):
            started = time.perf_counter()
            call()
            best[index] = min(best[index], time.perf_counter() - started)
        runs += 1
    return best[0], best[1]


def measure(case: SpeedCase, updates: int, params: int, budget_s: float) -> SpeedResult:
    """Time case's integer rule and its float version on the same random int16-scale updates."""
    rng = np.random.default_rng(updates * 100_003 + params)
    matrix = rng.integers(-2000, 2000, size=params) + rng.integers(-600, 600, size=(updates, params))
    weights = rng.integers(50, 250, size=updates)
    batch = [
        Update(f"w{i:02d}", row, int(weight))
        for i, (row, weight) in enumerate(zip(matrix, weights, strict=True))
    ]
    rule = get_rule(case.rule)
    as_float, float_weights = matrix.astype(np.float64), weights.astype(np.float64)
    integer_s, float_s = _best_seconds(
        lambda: rule(batch, case.params), lambda: case.reference(as_float, float_weights), budget_s
    )
    entries = updates * params
    return SpeedResult(case, updates, params, entries / integer_s, entries / float_s)
