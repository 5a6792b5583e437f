"""A random participant: a uniform class and a uniform confidence per input, drawn afresh each round."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.ml.predattacks.base import BPS, Entries, PredictContext, compute_rng

__all__ = ["RandomGuess"]


@dataclass(frozen=True)
class RandomGuess:
    """Noise in place of a model: class uniform in 0 .. label_count - 1, confidence uniform in 0 .. 10000.

    The draws come from (ctx.seed, ctx.round): reproducible, and new every round, so the tally it
    sees has no effect on it.
    """

    name: str = field(default="random", init=False)
    revises: bool = field(default=False, init=False)

    def answer(self, ctx: PredictContext) -> Entries:
        """Return one uniformly random (class, confidence) per input."""
        rng = compute_rng("random", ctx.seed, ctx.round)
        count = len(ctx.honest_entries)
        labels = rng.integers(0, ctx.label_count, count)
        confidences = rng.integers(0, BPS + 1, count)
        return [(int(c), int(v)) for c, v in zip(labels, confidences, strict=True)]
