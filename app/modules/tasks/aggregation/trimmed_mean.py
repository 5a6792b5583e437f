"""Trimmed mean: per coordinate, drop the `trim` smallest and `trim` largest values, average the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.modules.tasks.aggregation.base import (
    Update,
    compute_floor_mean,
    expect_params,
    prepare_updates,
    require_int,
)

__all__ = ["TrimmedMeanParams", "compute_trimmed_mean"]


@dataclass(frozen=True)
class TrimmedMeanParams:
    """trim is how many values are cut from each side of every coordinate (the beta count)."""

    trim: int = 1

    def __post_init__(self) -> None:
        """Check trim is a non-negative integer."""
        require_int("trim", self.trim, 0, 2**20)

    def min_updates(self) -> int:
        """Return 2 * trim + 1 so at least one value survives trimming."""
        return 2 * self.trim + 1


def compute_trimmed_mean(updates: Sequence[Update], params: object) -> NDArray[np.int64]:
    """Return the unweighted, floored mean of each coordinate's middle n - 2 * trim values."""
    checked = expect_params(params, TrimmedMeanParams)
    _, matrix = prepare_updates(updates, checked.min_updates(), "trimmed_mean")
    ordered = np.sort(matrix, axis=0)
    return compute_floor_mean(ordered[checked.trim : ordered.shape[0] - checked.trim])
