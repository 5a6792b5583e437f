"""Centered clipping with bucketing and worker momentum (Karimireddy, He and Jaggi, 2021 and 2022).

One round, all in integers:

1. Momentum: a worker with previous momentum m gets m' = floor((b * m + (10000 - b) * x) / 10000),
   b = momentum_bps; a worker without one starts at m' = x. Absent workers keep their momentum.
2. Bucketing: the momenta are put in a hash-derived order from `seed`, cut into buckets of
   `bucket_size` consecutive entries (the last may be smaller), and each bucket is floor-averaged.
3. Clipping: starting from the reference (the previous aggregate; when there is none, the
   coordinate-wise median of the bucket means), `iterations` times
   v <- v + floor_mean_i(clip(y_i - v)), where clip(z) = z if ||z|| <= radius, else
   floor(z * radius / isqrt(||z||**2)).

The aggregate is v; the next round's state is (v, the new momenta).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.modules.tasks.aggregation.base import (
    VALUE_MAX,
    VALUE_MIN,
    AggregationError,
    Update,
    compute_floor_mean,
    compute_squared_norms,
    expect_params,
    prepare_updates,
    require_int,
)
from app.modules.tasks.aggregation.median import compute_coordinate_median

__all__ = [
    "BPS",
    "CenteredClippingParams",
    "ClippingState",
    "compute_bucket_order",
    "compute_centered_clipping",
    "compute_centered_clipping_step",
]

BPS = 10_000  # momentum is given in basis points
_BUCKET_DOMAIN = b"synod/aggregation/centered-clipping/bucket"


@dataclass(frozen=True)
class CenteredClippingParams:
    """radius is tau in vector units; momentum_bps = 0 disables momentum, bucket_size = 1 bucketing."""

    radius: int
    iterations: int = 1
    bucket_size: int = 1
    seed: int = 0
    momentum_bps: int = 0

    def __post_init__(self) -> None:
        """Check ranges; radius < 2**31 keeps z * radius below 2**63 for |z| < 2**32."""
        require_int("radius", self.radius, 1, VALUE_MAX)
        require_int("iterations", self.iterations, 1, 64)
        require_int("bucket_size", self.bucket_size, 1, 2**20)
        require_int("seed", self.seed, 0, 2**64 - 1)
        require_int("momentum_bps", self.momentum_bps, 0, BPS - 1)

    def min_updates(self) -> int:
        """Return 1: clipping one update around itself returns it."""
        return 1


@dataclass(frozen=True, eq=False)
class ClippingState:
    """What centered clipping carries between rounds: the last aggregate and each worker's momentum."""

    reference: NDArray[np.int64] | None = None
    momenta: Mapping[str, NDArray[np.int64]] = field(default_factory=dict)


def compute_bucket_order(workers: Sequence[str], seed: int) -> list[int]:
    """Return the indices of workers ordered by sha256(domain, seed, worker id), ties by worker id."""
    prefix = _BUCKET_DOMAIN + seed.to_bytes(8, "big")
    keys = [hashlib.sha256(prefix + worker.encode("utf-8")).digest() for worker in workers]
    return sorted(range(len(workers)), key=lambda index: (keys[index], workers[index]))


def _check_vector(name: str, vector: NDArray[np.int64], dimension: int) -> NDArray[np.int64]:
    """Return vector as int64 if it is a state vector of the right length within the int32 range."""
    if vector.shape != (dimension,) or not np.issubdtype(vector.dtype, np.integer):
        raise AggregationError(f"{name} must be an integer vector of length {dimension}")
    if int(vector.min()) < VALUE_MIN or int(vector.max()) > VALUE_MAX:
        raise AggregationError(f"{name} has entries outside the int32 range")
    return vector.astype(np.int64)


def _compute_momenta(
    ordered: Sequence[Update], momenta: Mapping[str, NDArray[np.int64]], beta: int
) -> list[NDArray[np.int64]]:
    """Return each update's new momentum, in the order of ordered."""
    result = []
    for update in ordered:
        previous = momenta.get(update.worker)
        if previous is None or beta == 0:
            result.append(update.vector.copy())
            continue
        previous = _check_vector(f"momentum of {update.worker!r}", previous, update.vector.shape[0])
        # BPS * 2**31 < 2**45: no overflow; the result is a convex mix, so it stays int32-bounded.
        result.append(np.floor_divide(beta * previous + (BPS - beta) * update.vector, BPS))
    return result


def _compute_bucket_means(
    ordered: Sequence[Update], momenta: list[NDArray[np.int64]], params: CenteredClippingParams
) -> NDArray[np.int64]:
    """Return the floored mean of each bucket of momenta, buckets cut from the seeded order."""
    if params.bucket_size == 1:
        return np.stack(momenta)
    order = compute_bucket_order([update.worker for update in ordered], params.seed)
    buckets = [
        order[start : start + params.bucket_size] for start in range(0, len(order), params.bucket_size)
    ]
    return np.stack([compute_floor_mean(np.stack([momenta[i] for i in bucket])) for bucket in buckets])


def _compute_clip_step(
    points: NDArray[np.int64], center: NDArray[np.int64], radius: int
) -> NDArray[np.int64]:
    """Return center moved by the floored mean of the points' offsets, each clipped to radius."""
    offsets = points - center  # both int32-bounded, so |offset| < 2**32
    for row, squared in enumerate(compute_squared_norms(offsets)):
        norm = math.isqrt(squared)
        if norm > radius:
            # |offset| * radius < 2**32 * 2**31 = 2**63; floor keeps |clipped| <= |offset|, so v stays
            # within the per-coordinate range of the points and the reference.
            offsets[row] = np.floor_divide(offsets[row] * radius, norm)
    return center + compute_floor_mean(offsets)


def compute_centered_clipping_step(
    updates: Sequence[Update], params: object, state: ClippingState
) -> tuple[NDArray[np.int64], ClippingState]:
    """Return the aggregate and the next state, given the state the previous round returned."""
    checked = expect_params(params, CenteredClippingParams)
    ordered, matrix = prepare_updates(updates, 1, "centered_clipping")
    dimension = matrix.shape[1]
    momenta = _compute_momenta(ordered, state.momenta, checked.momentum_bps)
    points = _compute_bucket_means(ordered, momenta, checked)
    if state.reference is None:
        center = compute_coordinate_median(points)
    else:
        center = _check_vector("reference", state.reference, dimension)
    for _ in range(checked.iterations):
        center = _compute_clip_step(points, center, checked.radius)
    carried = dict(state.momenta)
    carried.update({update.worker: m for update, m in zip(ordered, momenta, strict=True)})
    # Insertion order by worker id, so whoever iterates the state sees a canonical order.
    return center, ClippingState(center, {worker: carried[worker] for worker in sorted(carried)})


def compute_centered_clipping(updates: Sequence[Update], params: object) -> NDArray[np.int64]:
    """Return the aggregate of one round with no history: median reference and fresh momenta."""
    aggregate, _ = compute_centered_clipping_step(updates, params, ClippingState())
    return aggregate
