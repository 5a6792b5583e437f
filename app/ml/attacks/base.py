"""The attack plugin interface: what an attacking worker or committee member sees and returns.

A worker attack may poison the labels it trains on and then replaces the update it would have sent
(returning None withholds the reveal). A committee attack replaces the scores an honest member would
attest. Attacks are frozen dataclasses of their parameters with pure methods: any randomness comes
from AttackContext.seed, so a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BPS",
    "AttackContext",
    "AttackError",
    "CommitteeAttack",
    "HonestLabels",
    "WorkerAttack",
    "apply_jitter",
    "compute_colluder_stack",
]

BPS = 10_000


class AttackError(ValueError):
    """Raised for an unknown attack, a malformed spec or parameters, or a context an attack cannot use."""


@dataclass(frozen=True, eq=False)
class AttackContext:
    """What an attacking worker knows in one round; every vector is a float32 update or model."""

    round: int
    seed: int  # per (worker, round); noise must be derived from it
    honest_update: NDArray[np.float32]  # what this worker would have sent (after poison_labels)
    colluder_updates: list[NDArray[np.float32]]  # honest updates of the colluders this round, own included
    public_updates: list[NDArray[np.float32]]  # updates others revealed in earlier rounds, oldest first
    current_weights: NDArray[np.float32]  # the global model the round started from
    n_workers: int = 0  # workers in the round when known (0: unknown); ALIE's default z needs it
    previous_global_delta: NDArray[np.float32] | None = None  # last round's change of the global model


class WorkerAttack(Protocol):
    """A malicious worker: trains on poison_labels(y), then sends craft_update instead of its update."""

    name: str

    def poison_labels(self, y: NDArray[np.int64], n_classes: int) -> NDArray[np.int64]:
        """Return the labels the worker trains on."""
        ...

    def craft_update(self, ctx: AttackContext) -> NDArray[np.float32] | None:
        """Return the float32 update to reveal, or None to commit and never reveal."""
        ...


class CommitteeAttack(Protocol):
    """A misbehaving committee member: attests (baseline, per-worker scores) in basis points."""

    name: str
    needs_evaluation: bool  # False: the member skips evaluation and is handed None for the true scores

    def attest(
        self,
        true_baseline: int | None,
        true_scores: dict[str, int] | None,
        colluding_workers: set[str],
        workers: Sequence[str] | None = None,
    ) -> tuple[int, dict[str, int]]:
        """Return the baseline and per-worker scores to attest (workers: the ids when scores are None)."""
        ...


@dataclass(frozen=True)
class HonestLabels:
    """Base of worker attacks that train on the true labels."""

    name: str = field(default="", init=False)

    def poison_labels(self, y: NDArray[np.int64], n_classes: int) -> NDArray[np.int64]:
        """Return y unchanged."""
        return y


def compute_colluder_stack(ctx: AttackContext) -> NDArray[np.float64]:
    """Return the colluders' honest updates as an (m, d) float64 matrix (this worker's alone if none)."""
    rows = ctx.colluder_updates or [ctx.honest_update]
    for row in rows:
        if row.shape != ctx.honest_update.shape:
            raise AttackError(
                f"colluder update has shape {row.shape}, expected {ctx.honest_update.shape} like this "
                "worker's; colluders must train the same task"
            )
    return np.stack([np.asarray(row, dtype=np.float64) for row in rows])


def apply_jitter(update: NDArray[np.float64], jitter: float, seed: int) -> NDArray[np.float32]:
    """Return update plus Gaussian noise of jitter x its standard deviation, drawn from seed.

    Colluders that craft from the same stack send identical bytes, which the chain fails as replays;
    a little per-worker noise makes each copy distinct at almost no cost to the attack.
    """
    if jitter < 0:
        raise AttackError(f"jitter must be >= 0, got {jitter}")
    if jitter == 0:
        return update.astype(np.float32)
    noise = np.random.default_rng(seed).standard_normal(update.shape)
    return (update + jitter * float(update.std()) * noise).astype(np.float32)
