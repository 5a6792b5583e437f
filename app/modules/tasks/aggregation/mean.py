"""Weighted mean (FedAvg): each update counts in proportion to its declared sample count, capped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.modules.tasks.aggregation.base import (
    MAX_TOTAL_WEIGHT,
    AggregationError,
    Update,
    expect_params,
    prepare_updates,
    require_int,
)

__all__ = ["MeanParams", "compute_mean"]


@dataclass(frozen=True)
class MeanParams:
    """max_weight caps any one update's sample count (0 means no cap), so no worker can buy the mean."""

    max_weight: int = 0

    def __post_init__(self) -> None:
        """Check the cap is a non-negative integer."""
        require_int("max_weight", self.max_weight, 0, MAX_TOTAL_WEIGHT)

    def min_updates(self) -> int:
        """Return 1: a mean of one update is that update."""
        return 1


def compute_mean(updates: Sequence[Update], params: object) -> NDArray[np.int64]:
    """Return floor(sum(w_i * x_i) / sum(w_i)) per coordinate, with w_i = min(weight_i, max_weight)."""
    cap = expect_params(params, MeanParams).max_weight
    ordered, matrix = prepare_updates(updates, 1, "mean")
    weights = [min(update.weight, cap) if cap else update.weight for update in ordered]
    total = sum(weights)
    if total > MAX_TOTAL_WEIGHT:
        raise AggregationError(
            f"total weight {total} exceeds {MAX_TOTAL_WEIGHT}; set max_weight to cap sample counts"
        )
    # |w_i * x_i| summed is at most total * 2**31 <= 2**62, inside int64; integer matmul is exact.
    weighted = np.asarray(weights, dtype=np.int64) @ matrix
    mean: NDArray[np.int64] = np.floor_divide(weighted, total)
    return mean
