"""Free riding: claim a reward for no training by replaying someone else's work.

The free rider re-sends the latest update another worker revealed in an earlier round, byte for byte
(its float32 values re-quantize to the same integers). With none to copy it replays the last change
of the global model, and in the first round, with neither, it sends zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.ml.attacks.base import AttackContext, HonestLabels

__all__ = ["FreeRide"]


@dataclass(frozen=True)
class FreeRide(HonestLabels):
    """Replays public_updates[-1], else previous_global_delta, else a zero update."""

    name: str = field(default="free_ride", init=False)

    def craft_update(self, ctx: AttackContext) -> NDArray[np.float32]:
        """Return a copy of the replay source (the honest update is never used)."""
        if ctx.public_updates:
            source = ctx.public_updates[-1]
        elif ctx.previous_global_delta is not None:
            source = ctx.previous_global_delta
        else:
            return np.zeros_like(ctx.honest_update, dtype=np.float32)
        return np.array(source, dtype=np.float32, copy=True)
