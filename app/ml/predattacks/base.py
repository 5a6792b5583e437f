"""The prediction-attack interface: what a misbehaving consensus-learning participant sees and submits.

Every round a participant submits one (class, confidence_bps) entry per input. An honest one submits
its model's entries in round 0 and app.ml.predict.revise's afterwards; an attacking one submits
PredictAttack.answer(ctx) every round instead. Attacks are frozen dataclasses of their parameters
with a pure answer method: any randomness is derived from ctx.seed (this participant's) or
ctx.query_seed (shared by everyone on the query, so a group can agree without talking), so a run is
reproducible.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["BPS", "Entries", "PredictAttack", "PredictAttackError", "PredictContext", "compute_rng"]

BPS = 10_000
Entries = list[tuple[int, int]]  # (class, confidence_bps) per input


class PredictAttackError(ValueError):
    """Raised for an unknown prediction attack, a malformed spec, or a context an attack cannot use."""


@dataclass(frozen=True, eq=False)
class PredictContext:
    """What an attacking participant knows when it submits round `round` of one query."""

    round: int  # 0 for the first submission, then 1 .. rounds
    honest_entries: Sequence[tuple[int, int]]  # what its own model would submit in round 0
    tallies: Sequence[tuple[int, int]] | None  # the last round's (answer, support_bps); None in round 0
    seed: int  # per (participant, query): its own draws come from it
    query_seed: int  # the same for every participant of the query: a group's shared draws
    label_count: int

    def __post_init__(self) -> None:
        """Require at least two classes, one input, and honest classes below label_count."""
        if self.label_count < 2 or not self.honest_entries:
            raise PredictAttackError(
                f"need label_count >= 2 and at least one input, got {self.label_count} and "
                f"{len(self.honest_entries)} inputs"
            )
        if any(not 0 <= label < self.label_count for label, _ in self.honest_entries):
            raise PredictAttackError(f"an honest class is outside 0 .. {self.label_count - 1}")


class PredictAttack(Protocol):
    """A misbehaving participant: answer(ctx) is what it submits in every round."""

    name: str
    revises: bool  # False: the same entries every round, whatever the network shows

    def answer(self, ctx: PredictContext) -> Entries:
        """Return one (class, confidence_bps) entry per input, class < ctx.label_count."""
        ...


def compute_rng(*parts: int | str) -> np.random.Generator:
    """Return a generator seeded by SHA-256 of the parts, so equal parts give equal draws anywhere."""
    digest = hashlib.sha256("/".join(["synod/predattack", *map(str, parts)]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))
