"""Near-copy free riding: someone else's update, scaled and with a little noise, so its bytes are new.

An exact replay fails the chain's hash check; a near copy changes every coordinate a little (relative
Gaussian noise of `noise` x the source's standard deviation) and may scale the whole update by
`scale`, so its bytes are new but its direction is the source's. The chain's cosine rule
(app/modules/committee/nearcopy.py) is what must catch it. The source is the latest update another
worker revealed in an earlier round (`source=public`, what a worker agent can read on chain), else
the last change of the global model, else zeros; or (`source=colluder`, for the bench) the first
colluder's honest update of this round.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.ml.attacks.base import AttackContext, AttackError, HonestLabels, apply_jitter

__all__ = ["NearCopy"]

_SOURCES = ("public", "colluder")


@dataclass(frozen=True)
class NearCopy(HonestLabels):
    """Reveals scale x source + noise x std(source) x N(0, 1) (the honest update is never used)."""

    noise: float = 0.01
    scale: float = 1.0
    source: str = "public"
    name: str = field(default="near_copy", init=False)

    def __post_init__(self) -> None:
        """Refuse a source this attack does not know."""
        if self.source not in _SOURCES:
            raise AttackError(f"near_copy: source must be one of {', '.join(_SOURCES)}, got {self.source!r}")

    def _source(self, ctx: AttackContext) -> NDArray[np.float32] | None:
        """The update to copy, or None when there is nothing to copy yet."""
        if self.source == "colluder":
            return ctx.colluder_updates[0] if ctx.colluder_updates else None
        if ctx.public_updates:
            return ctx.public_updates[-1]
        return ctx.previous_global_delta

    def craft_update(self, ctx: AttackContext) -> NDArray[np.float32]:
        """Return the scaled, noised copy of the source (zeros in a first round with none)."""
        source = self._source(ctx)
        if source is None:
            return np.zeros_like(ctx.honest_update, dtype=np.float32)
        return apply_jitter(self.scale * np.asarray(source, np.float64), self.noise, ctx.seed)
