"""Scaled update / model replacement: send factor times the honest update.

With factor = n (the workers averaged) and an unweighted mean, the global model becomes this worker's
locally trained model: the model-replacement attack of Bagdasaryan et al. (2020), here with the
worker's own skewed model as the replacement. The default factor is n when the context knows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.ml.attacks.base import AttackContext, AttackError, HonestLabels

__all__ = ["Scaled"]

DEFAULT_FACTOR = 10.0  # when the context does not know how many workers take part


@dataclass(frozen=True)
class Scaled(HonestLabels):
    """factor (default: the number of workers) multiplies the honest update."""

    name: str = field(default="scaled", init=False)
    factor: float | None = None

    def __post_init__(self) -> None:
        """Reject a non-positive factor."""
        if self.factor is not None and not self.factor > 0:
            raise AttackError(f"scaled factor must be positive, got {self.factor}")

    def compute_factor(self, ctx: AttackContext) -> float:
        """Return the factor in force: the given one, else n_workers, else DEFAULT_FACTOR."""
        if self.factor is not None:
            return self.factor
        return float(ctx.n_workers) if ctx.n_workers > 0 else DEFAULT_FACTOR

    def craft_update(self, ctx: AttackContext) -> NDArray[np.float32]:
        """Return factor * honest_update (the quantizer clips it to the update bound)."""
        factor = self.compute_factor(ctx)
        return (factor * np.asarray(ctx.honest_update, dtype=np.float64)).astype(np.float32)
