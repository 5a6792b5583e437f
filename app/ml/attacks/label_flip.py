"""Label flipping: train honestly on the labels y -> n_classes - 1 - y and send that update."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.ml.attacks.base import AttackContext

__all__ = ["LabelFlip"]


@dataclass(frozen=True)
class LabelFlip:
    """Data poisoning: every label is mirrored, so the update teaches the wrong class everywhere."""

    name: str = field(default="label_flip", init=False)

    def poison_labels(self, y: NDArray[np.int64], n_classes: int) -> NDArray[np.int64]:
        """Return n_classes - 1 - y (a two-class task swaps its classes)."""
        flipped: NDArray[np.int64] = (n_classes - 1 - np.asarray(y)).astype(np.int64)
        return flipped

    def craft_update(self, ctx: AttackContext) -> NDArray[np.float32]:
        """Return the update trained on the flipped labels, which the caller passes as honest_update."""
        return np.asarray(ctx.honest_update, dtype=np.float32).copy()
