"""The contract every aggregation rule follows: inputs, bounds, errors and shared integer helpers.

A rule is a pure function ``rule(updates, params) -> aggregate`` over integer vectors. It runs inside
the state machine, so it uses integer arithmetic only (numpy int64 plus Python ints where a value can
outgrow 64 bits) and every division floors toward minus infinity (Python's and numpy's ``//``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "MAX_DIMENSION",
    "MAX_TOTAL_WEIGHT",
    "VALUE_MAX",
    "VALUE_MIN",
    "AggregationError",
    "AggregationRule",
    "Params",
    "Update",
    "compute_floor_mean",
    "compute_squared_norms",
    "expect_params",
    "prepare_updates",
    "require_int",
]

# Vectors hold int16 updates or int32 weights. Bounding every entry to the int32 range is what makes
# the overflow notes in each rule hold: a difference of two entries is below 2**32 in magnitude.
VALUE_MIN = -(2**31)
VALUE_MAX = 2**31 - 1
# Keeps every int64 partial sum in compute_squared_norms below 2**57 (d * 2**33).
MAX_DIMENSION = 2**24
# Keeps sum(weight * value) within int64: 2**31 * 2**31 = 2**62.
MAX_TOTAL_WEIGHT = 2**31


P = TypeVar("P")


class AggregationError(ValueError):
    """Raised when updates or parameters cannot be aggregated; the message says what to change."""


@dataclass(frozen=True, eq=False)
class Update:
    """One worker's integer update: a read-only int64 copy of its vector and its declared sample count."""

    worker: str
    vector: NDArray[np.int64]
    weight: int

    def __post_init__(self) -> None:
        """Validate the fields and freeze a private int64 copy of the vector."""
        if not isinstance(self.worker, str) or not self.worker:
            raise AggregationError(f"worker must be a non-empty string, got {self.worker!r}")
        vector = self.vector
        if not isinstance(vector, np.ndarray) or vector.ndim != 1:
            raise AggregationError(f"update of {self.worker!r} must be a 1-D numpy array")
        if not np.issubdtype(vector.dtype, np.integer):
            raise AggregationError(
                f"update of {self.worker!r} has dtype {vector.dtype}; quantize it to integers first"
            )
        # uint64 entries above 2**63 would wrap in astype, so range-check before converting.
        if vector.size and (int(vector.min()) < VALUE_MIN or int(vector.max()) > VALUE_MAX):
            raise AggregationError(
                f"update of {self.worker!r} has entries outside the int32 range; clip it when quantizing"
            )
        frozen = vector.astype(np.int64, copy=True)
        frozen.flags.writeable = False
        object.__setattr__(self, "vector", frozen)
        object.__setattr__(self, "weight", require_int("weight", self.weight, 1, MAX_TOTAL_WEIGHT))


class Params(Protocol):
    """What every rule's frozen parameter dataclass provides."""

    def min_updates(self) -> int:
        """Return the fewest updates the rule accepts with these parameters."""
        ...


# Each rule narrows Params to its own dataclass with expect_params; Any keeps the registry assignable.
AggregationRule = Callable[[Sequence[Update], Any], NDArray[np.int64]]


def require_int(name: str, value: object, low: int, high: int) -> int:
    """Return value as an int if it is an integer in [low, high], else raise AggregationError."""
    if isinstance(value, bool):
        raise AggregationError(f"{name} must be an integer, got a bool")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise AggregationError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not low <= number <= high:
        raise AggregationError(f"{name} must be between {low} and {high}, got {number}")
    return number


def expect_params(params: object, kind: type[P]) -> P:
    """Return params if it is a kind instance, else raise AggregationError naming the right type."""
    if not isinstance(params, kind):
        raise AggregationError(f"expected {kind.__name__}, got {type(params).__name__}")
    return params


def prepare_updates(
    updates: Sequence[Update], need: int, rule: str
) -> tuple[tuple[Update, ...], NDArray[np.int64]]:
    """Return the updates sorted by worker id and their (n, d) int64 matrix, after checking them."""
    if len(updates) < need:
        raise AggregationError(
            f"{rule} needs at least {need} updates but got {len(updates)}; "
            "wait for more reveals or lower the rule's Byzantine/trim parameters"
        )
    # Sorting by worker id (str order: by code point, the same everywhere) makes every rule independent
    # of the order a proposer put txs in a block, so tie-breaks "by index" are tie-breaks by worker id.
    ordered = tuple(sorted(updates, key=lambda update: update.worker))
    for first, second in zip(ordered, ordered[1:], strict=False):
        if first.worker == second.worker:
            raise AggregationError(f"worker {first.worker!r} has more than one update; keep one")
    dimension = ordered[0].vector.shape[0]
    if not 1 <= dimension <= MAX_DIMENSION:
        raise AggregationError(f"update length must be between 1 and {MAX_DIMENSION}, got {dimension}")
    for update in ordered:
        if update.vector.shape[0] != dimension:
            raise AggregationError(
                f"update of {update.worker!r} has length {update.vector.shape[0]}, expected {dimension}"
            )
    return ordered, np.stack([update.vector for update in ordered])


def compute_floor_mean(matrix: NDArray[np.int64]) -> NDArray[np.int64]:
    """Return the column-wise mean of an (n, d) matrix, floored toward minus infinity."""
    # n * 2**31 stays below 2**63 for any n < 2**32.
    mean: NDArray[np.int64] = np.floor_divide(matrix.sum(axis=0), matrix.shape[0])
    return mean


def compute_squared_norms(rows: NDArray[np.int64]) -> list[int]:
    """Return each row of a 2-D matrix's exact sum of squares as a Python int (entries below 2**32)."""
    if not rows.size:
        return [0] * rows.shape[0]
    peak = max(-int(rows.min()), int(rows.max()))
    if peak * peak * rows.shape[-1] < 2**63:
        # Every square and every row's sum fit in int64: the common case of int16-scale updates, where one
        # pass is about ten times faster than the split below.
        return [int(total) for total in np.einsum("ij,ij->i", rows, rows).tolist()]
    # A square can reach 2**64 and overflow int64, so split x = hi * 2**16 + lo with 0 <= lo < 2**16
    # (arithmetic shift and two's-complement mask) and |hi| <= 2**16; then
    # x**2 = hi**2 * 2**32 + hi*lo * 2**17 + lo**2, and each term's sum over d <= 2**24 fits in int64.
    high = rows >> 16
    low = rows & 0xFFFF
    high_sums = (high * high).sum(axis=-1).tolist()
    cross_sums = (high * low).sum(axis=-1).tolist()
    low_sums = (low * low).sum(axis=-1).tolist()
    return [
        (int(h) << 32) + (int(c) << 17) + int(lo)
        for h, c, lo in zip(high_sums, cross_sums, low_sums, strict=True)
    ]
