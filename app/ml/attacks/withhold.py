"""Withholding: commit to an update and never reveal it, so the round waits on a reveal that never comes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.ml.attacks.base import AttackContext, HonestLabels

__all__ = ["Withhold"]


@dataclass(frozen=True)
class Withhold(HonestLabels):
    """The worker commits (so it holds a slot) but craft_update returns None: nothing is revealed."""

    name: str = field(default="withhold", init=False)

    def craft_update(self, ctx: AttackContext) -> NDArray[np.float32] | None:
        """Return None: withhold the reveal."""
        return None
