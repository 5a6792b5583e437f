"""Krum and multi-Krum: keep the updates closest to their neighbours, which outliers cannot be.

With n updates of which up to f are Byzantine, each update's score is the sum of squared Euclidean
distances to its n - f - 2 nearest other updates (Blanchard et al., 2017). Krum (m = 1) returns
the best-scoring update itself; multi-Krum (m > 1) returns the floored, unweighted mean of the m best
(El Mhamdi et al., 2018). Equal scores are broken by worker id, since updates are ordered by worker id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.modules.tasks.aggregation.base import (
    Update,
    compute_floor_mean,
    compute_squared_norms,
    expect_params,
    prepare_updates,
    require_int,
)

__all__ = ["KrumParams", "compute_krum", "compute_krum_scores"]


@dataclass(frozen=True)
class KrumParams:
    """byzantine is f, the updates assumed malicious; m is how many best-scored updates to average."""

    byzantine: int = 1
    m: int = 1

    def __post_init__(self) -> None:
        """Check f >= 0 and m >= 1."""
        require_int("byzantine", self.byzantine, 0, 2**20)
        require_int("m", self.m, 1, 2**20)

    def min_updates(self) -> int:
        """Return max(2f + 3, m + f): Krum needs n > 2f + 2, and m must not exceed the n - f honest ones."""
        return max(2 * self.byzantine + 3, self.m + self.byzantine)


def _compute_pairwise_distances(matrix: NDArray[np.int64]) -> list[list[int]]:
    """Return the symmetric table of exact squared distances between rows, as Python ints."""
    count = matrix.shape[0]
    table = [[0] * count for _ in range(count)]
    for i in range(count - 1):
        # Entries are int32-bounded, so differences stay below 2**32 as compute_squared_norms needs.
        for j, distance in enumerate(compute_squared_norms(matrix[i + 1 :] - matrix[i]), start=i + 1):
            table[i][j] = table[j][i] = distance
    return table


def compute_krum_scores(matrix: NDArray[np.int64], byzantine: int) -> list[int]:
    """Return each row's Krum score: the sum of its n - f - 2 smallest squared distances to other rows."""
    table = _compute_pairwise_distances(matrix)
    neighbours = matrix.shape[0] - byzantine - 2
    return [sum(sorted(row[:i] + row[i + 1 :])[:neighbours]) for i, row in enumerate(table)]


def compute_krum(updates: Sequence[Update], params: object) -> NDArray[np.int64]:
    """Return the best-scoring update (m = 1) or the floored mean of the m best (multi-Krum)."""
    checked = expect_params(params, KrumParams)
    _, matrix = prepare_updates(updates, checked.min_updates(), "krum")
    scores = compute_krum_scores(matrix, checked.byzantine)
    # Sorting (score, index) pairs breaks equal scores by index, i.e. by worker id.
    best = [index for _, index in sorted(zip(scores, range(len(scores)), strict=True))]
    return compute_floor_mean(matrix[best[: checked.m]])
