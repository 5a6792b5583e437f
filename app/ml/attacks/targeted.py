"""Targeted poisoning: relabel one class as another and train honestly on the rest.

The update keeps the model right on every other class, so its accuracy on the evaluation rows drops
by at most that class's share; it teaches the wrong answer for one class only (a backdoor-style
attack on a single label). boost > 1 scales the update, as a model-replacement attacker would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.ml.attacks.base import AttackContext, AttackError

__all__ = ["Targeted"]


@dataclass(frozen=True)
class Targeted:
    """Rows of class `target` are trained as class `to` (default: the next class); boost scales the update."""

    name: str = field(default="targeted", init=False)
    target: int = 3
    to: int = -1
    boost: float = 1.0

    def __post_init__(self) -> None:
        """Reject a negative class or a non-positive boost."""
        if self.target < 0 or self.to < -1:
            raise AttackError(f"targeted needs target >= 0 and to >= -1, got {self.target} and {self.to}")
        if not self.boost > 0:
            raise AttackError(f"targeted boost must be positive, got {self.boost}")

    def poison_labels(self, y: NDArray[np.int64], n_classes: int) -> NDArray[np.int64]:
        """Return y with every row of the target class relabelled (a class the task lacks is left as is)."""
        labels = np.asarray(y).astype(np.int64)
        if self.target >= n_classes:
            return labels
        to = (self.target + 1) % n_classes if self.to < 0 else self.to % n_classes
        return np.where(labels == self.target, to, labels).astype(np.int64)

    def craft_update(self, ctx: AttackContext) -> NDArray[np.float32]:
        """Return boost times the update trained on the relabelled rows (passed as honest_update)."""
        return (self.boost * np.asarray(ctx.honest_update, dtype=np.float64)).astype(np.float32)
