"""A Little Is Enough (Baruch et al., 2019): mean - z * std of the colluders' honest updates.

Each coordinate is moved z standard deviations below the colluders' mean: small enough to stay
inside the spread that coordinate-wise robust rules (median, trimmed mean, Krum) accept, and
consistent across the colluders, so together they drag those rules. The paper's z for n workers of
which m collude is the largest z with Phi(z) < (n - s) / n, where s = floor(n / 2 + 1) - m is how
many honest workers the attackers need on their side to sway the median.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from app.ml.attacks.base import AttackContext, AttackError, HonestLabels, apply_jitter, compute_colluder_stack

__all__ = ["DEFAULT_Z", "Alie", "compute_alie_z"]

DEFAULT_Z = 1.0  # when the context does not say how many workers take part


def compute_alie_z(n_workers: int, n_attackers: int) -> float:
    """Return the paper's z_max for n workers and m attackers (0 when m is too few to move the median)."""
    if not 1 <= n_attackers <= n_workers:
        raise AttackError(f"need 1 <= attackers <= workers, got {n_attackers} of {n_workers}")
    supporters = n_workers // 2 + 1 - n_attackers
    # With an attacker majority (supporters <= 0) any z works; cap at (n - 1) / n to stay finite.
    share = min(n_workers - supporters, n_workers - 1) / n_workers
    return max(0.0, NormalDist().inv_cdf(share)) if share > 0 else 0.0


@dataclass(frozen=True)
class Alie(HonestLabels):
    """z standard deviations below the colluders' mean; z defaults to compute_alie_z(n, m)."""

    name: str = field(default="alie", init=False)
    z: float | None = None
    group: str = "default"  # colluders with the same group share their honest updates
    jitter: float = 0.0  # relative per-worker noise: distinct bytes, so no replay (base.apply_jitter)

    def __post_init__(self) -> None:
        """Reject a negative z."""
        if self.z is not None and not self.z >= 0:
            raise AttackError(f"alie z must be >= 0, got {self.z}")
        if self.jitter < 0:
            raise AttackError(f"alie jitter must be >= 0, got {self.jitter}")

    def compute_z(self, ctx: AttackContext) -> float:
        """Return the z in force: the given one, else the paper's, else DEFAULT_Z."""
        if self.z is not None:
            return self.z
        colluders = max(1, len(ctx.colluder_updates))
        if ctx.n_workers >= colluders:
            return compute_alie_z(ctx.n_workers, colluders)
        return DEFAULT_Z

    def craft_update(self, ctx: AttackContext) -> NDArray[np.float32]:
        """Return mean - z * std per coordinate (population std) of the colluders' updates, jittered."""
        stack = compute_colluder_stack(ctx)
        return apply_jitter(
            stack.mean(axis=0) - self.compute_z(ctx) * stack.std(axis=0), self.jitter, ctx.seed
        )
