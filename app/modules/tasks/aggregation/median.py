"""Coordinate-wise median: each coordinate is the median of that coordinate across updates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.modules.tasks.aggregation.base import Update, expect_params, prepare_updates

__all__ = ["MedianParams", "compute_coordinate_median", "compute_median"]


@dataclass(frozen=True)
class MedianParams:
    """The median has no parameters; the dataclass keeps the rule signature uniform."""

    def min_updates(self) -> int:
        """Return 1: the median of one update is that update."""
        return 1


def compute_coordinate_median(matrix: NDArray[np.int64]) -> NDArray[np.int64]:
    """Return each column's median; for an even count, floor((low + high) / 2) of the middle two."""
    ordered = np.sort(matrix, axis=0)
    count = ordered.shape[0]
    # For an odd count both indices name the middle row and (x + x) // 2 == x. The pair sum is below
    # 2**32 in magnitude; floor division rounds toward minus infinity.
    median: NDArray[np.int64] = np.floor_divide(ordered[(count - 1) // 2] + ordered[count // 2], 2)
    return median


def compute_median(updates: Sequence[Update], params: object) -> NDArray[np.int64]:
    """Return the coordinate-wise median of the updates (unweighted)."""
    expect_params(params, MedianParams)
    _, matrix = prepare_updates(updates, 1, "median")
    return compute_coordinate_median(matrix)
