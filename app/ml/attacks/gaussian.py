"""Random noise: send an update of independent N(0, sigma^2) entries drawn from the context's seed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.ml.attacks.base import AttackContext, AttackError, HonestLabels

__all__ = ["Gaussian"]


@dataclass(frozen=True)
class Gaussian(HonestLabels):
    """sigma is the noise's standard deviation, in model-weight units."""

    name: str = field(default="gaussian", init=False)
    sigma: float = 1.0

    def __post_init__(self) -> None:
        """Reject a non-positive sigma."""
        if not self.sigma > 0:
            raise AttackError(f"gaussian sigma must be positive, got {self.sigma}")

    def craft_update(self, ctx: AttackContext) -> NDArray[np.float32]:
        """Return sigma * N(0, 1) noise of the honest update's shape, seeded by ctx.seed."""
        rng = np.random.default_rng(ctx.seed)
        return (self.sigma * rng.standard_normal(ctx.honest_update.shape)).astype(np.float32)
