"""A lazy committee member: attests without evaluating, every update at one guessed score.

With score unset it guesses the baseline it is handed: a member that skips evaluation can still read
the last baseline the chain published, which is public. Next to honest scores the guess stands out as
soon as an update moves accuracy by more than the chain's attest tolerance, and then it is flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.ml.attacks.base import BPS, AttackError

__all__ = ["Lazy"]

FALLBACK_GUESS = BPS // 2  # a coin-flip accuracy, when neither score nor a published baseline is known


@dataclass(frozen=True)
class Lazy:
    """score (basis points, optional) is the constant it attests for the baseline and every update."""

    name: str = field(default="lazy", init=False)
    needs_evaluation: bool = field(default=False, init=False)
    score: int | None = None

    def __post_init__(self) -> None:
        """Reject a score outside [0, 10000]."""
        if self.score is not None and not 0 <= self.score <= BPS:
            raise AttackError(f"lazy score must be between 0 and {BPS} basis points, got {self.score}")

    def attest(
        self,
        true_baseline: int | None,
        true_scores: dict[str, int] | None,
        colluding_workers: set[str],
        workers: Sequence[str] | None = None,
    ) -> tuple[int, dict[str, int]]:
        """Return (guess, {worker: guess}) for the workers named by true_scores' keys or workers."""
        if true_scores is None and workers is None:
            raise AttackError("lazy attest needs the worker ids: pass workers= when true_scores is None")
        ids = list(true_scores) if true_scores is not None else list(workers or ())
        if self.score is not None:
            guess = self.score
        else:
            guess = FALLBACK_GUESS if true_baseline is None else true_baseline
        return guess, dict.fromkeys(ids, guess)
