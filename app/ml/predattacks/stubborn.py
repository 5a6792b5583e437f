"""A stubborn participant: a fixed wrong class per input at full confidence, never revised."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.ml.predattacks.base import BPS, Entries, PredictContext, compute_rng

__all__ = ["Stubborn"]


@dataclass(frozen=True)
class Stubborn:
    """Submits, on every input, a class other than its own model's answer, the same in every round.

    It cannot know the true label either, so "wrong" means away from what its model believes:
    (own class + d) mod label_count with d in 1 .. label_count - 1 drawn per input from ctx.seed
    (not the round), at confidence 10000.
    """

    name: str = field(default="stubborn", init=False)
    revises: bool = field(default=False, init=False)

    def answer(self, ctx: PredictContext) -> Entries:
        """Return the fixed wrong class of every input at full confidence."""
        offsets = compute_rng("stubborn", ctx.seed).integers(1, ctx.label_count, len(ctx.honest_entries))
        return [
            ((label + int(d)) % ctx.label_count, BPS)
            for (label, _), d in zip(ctx.honest_entries, offsets, strict=True)
        ]
