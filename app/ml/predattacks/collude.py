"""Colluding participants: a group that puts all its weight on one agreed class per input."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.ml.predattacks.base import BPS, Entries, PredictContext, compute_rng

__all__ = ["Collude"]


@dataclass(frozen=True)
class Collude:
    """Every member of group submits the same class per input at confidence 10000, every round.

    The class is drawn from (group, ctx.query_seed) alone, so the members agree without talking and
    whatever their own models say; on a k-class query it is wrong on about (k - 1) / k of the inputs.
    """

    name: str = field(default="collude", init=False)
    revises: bool = field(default=False, init=False)
    group: str = "default"

    def answer(self, ctx: PredictContext) -> Entries:
        """Return the group's agreed class of every input at full confidence."""
        rng = compute_rng("collude", self.group, ctx.query_seed)
        labels = rng.integers(0, ctx.label_count, len(ctx.honest_entries))
        return [(int(c), BPS) for c in labels]
