"""A copying committee member: attests what another member attested, without evaluating.

Under commit-then-reveal a copier sees only hashes until every seat has committed, so it does what is
left to it: in the commit window it commits the first other member's commitment it reads (the only
thing on chain), and once that member reveals it sends the member's scores and salt as its own. The
chain binds every commitment to its attester's address, so the copied reveal opens neither the
copied commitment nor any other: the chain refuses it (committee code 16) and the member is judged as
one that never attested (faulted, unpaid, slashed after max_member_faults).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.ml.attacks.base import AttackError

__all__ = ["Copy"]


@dataclass(frozen=True)
class Copy:
    """No parameters: the agent copies the first other member's commitment, then its reveal."""

    name: str = field(default="copy", init=False)
    needs_evaluation: bool = field(default=False, init=False)

    def pick_source(self, attesters: Sequence[str], me: str) -> str | None:
        """The member to copy: the first other one in address order that has what is copied."""
        others = sorted(a for a in attesters if a != me)
        return others[0] if others else None

    def attest(
        self,
        true_baseline: int | None,
        true_scores: dict[str, int] | None,
        colluding_workers: set[str],
        workers: Sequence[str] | None = None,
    ) -> tuple[int, dict[str, int]]:
        """A copier has no scores of its own: the committee agent sends another member's instead."""
        raise AttackError("copy attests another member's commitment and reveal, not scores of its own")
