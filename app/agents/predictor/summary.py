"""What a predictor reports once its query has settled: how its model and its final predictions
compare with the settled answers and, where labels are known, with the truth; its stake and payout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

from app.agents.predictor.model import Entries, compute_agreement_bps
from synod.consensus.v1 import consensus_pb2

__all__ = ["PredictorSummary", "compute_summary"]


def _pct(bps: int | None) -> str:
    """Basis points as a percentage, or '-' when unknown."""
    return "-" if bps is None else f"{bps / 100:.2f}%"


@dataclass(frozen=True)
class PredictorSummary:
    """The outcome for this predictor once its query settled."""

    query_id: int
    participant: str
    status: str
    behaviour: str  # "honest" or "attack:NAME"
    rounds: int  # rounds of the query: 0 .. rounds
    revealed_rounds: list[int]
    settled_height: int
    settled_round: int
    own_agreement_bps: int | None  # our model's round-0 answers vs the settled answers
    final_agreement_bps: int | None  # our last revealed predictions vs the settled answers
    labels_source: str  # "revealed by the poster", "from the inputs reference", or "" (unknown)
    own_accuracy_bps: int | None
    final_accuracy_bps: int | None
    settled_accuracy_bps: int | None
    stake: str
    slashed: str
    reward: str
    missed_reveals: int

    def describe(self) -> str:
        """A few lines for people."""
        settled = (
            f"settled at height {self.settled_height} on round {self.settled_round}'s reveals"
            if self.settled_height
            else "without a settlement"
        )
        lines = [
            f"query {self.query_id} {self.status}: {settled}",
            f"predictor {self.participant} ({self.behaviour}): revealed in {len(self.revealed_rounds)} of "
            f"{self.rounds + 1} rounds, {self.missed_reveals} missed reveals",
            f"agreement with the settled answers: own model {_pct(self.own_agreement_bps)}, "
            f"final predictions {_pct(self.final_agreement_bps)}",
        ]
        if self.labels_source:
            lines.append(
                f"accuracy ({self.labels_source}): own model {_pct(self.own_accuracy_bps)}, final "
                f"predictions {_pct(self.final_accuracy_bps)}, "
                f"settled answers {_pct(self.settled_accuracy_bps)}"
            )
        paid = "" if self.status == "closed" else " (rewards and slashes are final when the query closes)"
        lines.append(f"stake {self.stake}, slashed {self.slashed}, reward {self.reward}{paid}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """The fields as JSON-able values."""
        return asdict(self)


def _accuracy(entries: Entries | None, labels: Sequence[int] | None) -> int | None:
    """Accuracy of entries against labels, in bps; None when either is unknown."""
    if entries is None or labels is None:
        return None
    return compute_agreement_bps(entries, list(labels))


def compute_summary(
    query: consensus_pb2.PredictionQuery,
    status: str,
    settlement: consensus_pb2.Settlement,
    address: str,
    participant: consensus_pb2.Participant | None,
    behaviour: str,
    revealed: Sequence[tuple[int, Entries]],
    own: Entries | None,
    reference_labels: NDArray[np.int64] | None,
) -> PredictorSummary:
    """The summary from the settlement, our participant record and what we submitted.

    revealed: (round, entries) of every round whose reveal landed, in round order; own: our model's
    round-0 entries (None when no model was loaded in this run).
    """
    answers = [t.answer for t in settlement.tallies]
    final = revealed[-1][1] if revealed else None
    labels: list[int] | None = None
    source = ""
    if settlement.labels_revealed:
        labels, source = list(settlement.labels), "revealed by the poster"
    elif reference_labels is not None:
        labels, source = [int(v) for v in reference_labels], "from the inputs reference"
    settled_entries = [(a, 0) for a in answers]
    denom = query.min_stake.denom
    return PredictorSummary(
        query_id=query.id,
        participant=address,
        status=status,
        behaviour=behaviour,
        rounds=query.rounds,
        revealed_rounds=[r for r, _ in revealed],
        settled_height=settlement.height,
        settled_round=settlement.round,
        own_agreement_bps=compute_agreement_bps(own, answers) if own is not None and answers else None,
        final_agreement_bps=compute_agreement_bps(final, answers) if final is not None and answers else None,
        labels_source=source,
        own_accuracy_bps=_accuracy(own, labels),
        final_accuracy_bps=_accuracy(final, labels),
        settled_accuracy_bps=_accuracy(settled_entries, labels) if answers else None,
        stake=f"{participant.stake.amount or 0}{participant.stake.denom}" if participant else f"0{denom}",
        slashed=f"{participant.slashed or 0}{denom}" if participant else f"0{denom}",
        reward=f"{participant.reward or 0}{query.reward.denom}" if participant else f"0{query.reward.denom}",
        missed_reveals=participant.missed_reveals if participant else 0,
    )
