"""Inner Product Manipulation (Xie et al., 2020): send -eps times the colluders' mean honest update.

The aggregate's inner product with the true gradient turns negative once the attackers' weight
outgrows the honest ones'; a small eps keeps the update's norm small enough to pass norm- and
distance-based filters such as Krum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.ml.attacks.base import AttackContext, AttackError, HonestLabels, apply_jitter, compute_colluder_stack

__all__ = ["Ipm"]


@dataclass(frozen=True)
class Ipm(HonestLabels):
    """eps > 0 scales the negated mean of the colluders' honest updates."""

    name: str = field(default="ipm", init=False)
    eps: float = 0.5
    group: str = "default"  # colluders with the same group share their honest updates
    jitter: float = 0.0  # relative per-worker noise: distinct bytes, so no replay (base.apply_jitter)

    def __post_init__(self) -> None:
        """Reject a non-positive eps."""
        if not self.eps > 0:
            raise AttackError(f"ipm eps must be positive, got {self.eps}")
        if self.jitter < 0:
            raise AttackError(f"ipm jitter must be >= 0, got {self.jitter}")

    def craft_update(self, ctx: AttackContext) -> NDArray[np.float32]:
        """Return -eps * mean of the colluders' honest updates, jittered."""
        return apply_jitter(-self.eps * compute_colluder_stack(ctx).mean(axis=0), self.jitter, ctx.seed)
