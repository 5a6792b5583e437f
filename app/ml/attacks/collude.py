"""Colluding committee members: score the colluding workers' updates high and every honest one low.

The members evaluate (so their baseline is the true one and they look diligent) and then report high
for each update of a worker in their group, so that bad updates pass, and low for everyone else, so
that honest workers fail and lose their stake. The chain's median over the seats defeats them while
they hold less than half of the committee's seats, and their deviation from it flags them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.ml.attacks.base import BPS, AttackError

__all__ = ["Collude"]


@dataclass(frozen=True)
class Collude:
    """group names the colluders; high and low are the scores (basis points) for their own and the rest."""

    name: str = field(default="collude", init=False)
    needs_evaluation: bool = field(default=True, init=False)
    group: str = "default"
    high: int = BPS
    low: int = 0

    def __post_init__(self) -> None:
        """Require 0 <= low <= high <= 10000."""
        if not 0 <= self.low <= self.high <= BPS:
            raise AttackError(f"collude needs 0 <= low <= high <= {BPS}, got low={self.low} high={self.high}")

    def attest(
        self,
        true_baseline: int | None,
        true_scores: dict[str, int] | None,
        colluding_workers: set[str],
        workers: Sequence[str] | None = None,
    ) -> tuple[int, dict[str, int]]:
        """Return the true baseline and high for colluding workers, low for the others."""
        if true_baseline is None or true_scores is None:
            raise AttackError("collude evaluates: pass the true baseline and scores")
        scores = {w: self.high if w in colluding_workers else self.low for w in true_scores}
        return true_baseline, scores
