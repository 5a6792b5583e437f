"""Sign flipping: send -scale times the honest update, a step against the gradient."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.ml.attacks.base import AttackContext, AttackError, HonestLabels

__all__ = ["SignFlip"]


@dataclass(frozen=True)
class SignFlip(HonestLabels):
    """scale > 0 multiplies the negated update; above (n - m) / m it reverses a plain mean's direction."""

    name: str = field(default="sign_flip", init=False)
    scale: float = 1.0

    def __post_init__(self) -> None:
        """Reject a non-positive scale, which would not flip the sign."""
        if not self.scale > 0:
            raise AttackError(f"sign_flip scale must be positive, got {self.scale}")

    def craft_update(self, ctx: AttackContext) -> NDArray[np.float32]:
        """Return -scale * honest_update."""
        return (-self.scale * np.asarray(ctx.honest_update, dtype=np.float64)).astype(np.float32)
