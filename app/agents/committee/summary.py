"""What a committee member did in one run: its attestations, how the chain judged them, its standing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from app.client.committee import CommitteeClient
from app.client.rpc import QueryFailed, RpcError
from synod.committee.v1 import committee_pb2, tx_pb2

__all__ = ["AttestRecord", "MemberSummary", "compute_summary"]


@dataclass(frozen=True)
class AttestRecord:
    """One (task, round) this member was seated in during the run: attested, or missed."""

    task_id: int
    round: int
    height: int = 0  # the block that included the attestation (0: missed)
    baseline_bps: int = 0
    scores: dict[str, int] = field(default_factory=dict)
    spot_check_failed: list[str] = field(default_factory=list)
    evaluated: bool = False  # False: attested without evaluating (a lazy attack)
    honest: bool = True  # the attested scores are the evaluated ones
    judged: str = ""  # filled in by the summary: "within tolerance", "faulty (...)", "not judged yet"
    missed_because: str = "the score phase closed first"  # why a missed one was (height 0)

    @classmethod
    def revealed(cls, reveal: tx_pb2.MsgAttest, height: int, evaluated: bool, honest: bool) -> AttestRecord:
        """A reveal (MsgAttest) included at height."""
        return cls(
            reveal.task_id,
            reveal.round,
            height,
            reveal.baseline_bps,
            {s.worker: s.score_bps for s in reveal.scores},
            [s.worker for s in reveal.scores if s.spot_check_failed],
            evaluated=evaluated,
            honest=honest,
        )

    @classmethod
    def missed(cls, task_id: int, round_: int, because: str = "the score phase closed first") -> AttestRecord:
        """A seat whose attestation never landed, and why."""
        return cls(task_id, round_, missed_because=because)

    @property
    def attested(self) -> bool:
        """True if the attestation landed."""
        return self.height > 0

    def describe(self) -> str:
        """One line, e.g. `baseline 81.25%, 4 updates scored 79.00%-84.10%, 1 failed spot check`."""
        if not self.attested:
            return f"missed: {self.missed_because}"
        values = sorted(self.scores.values())
        spread = f"{values[0] / 100:.2f}%-{values[-1] / 100:.2f}%" if values else "-"
        how = "" if self.evaluated else " without evaluating"
        how += "" if self.honest else " (attack)"
        failed = f", {len(self.spot_check_failed)} failed spot check" if self.spot_check_failed else ""
        return f"baseline {self.baseline_bps / 100:.2f}%, {len(values)} updates scored {spread}{failed}{how}"


@dataclass(frozen=True)
class MemberSummary:
    """The run's outcome for this member."""

    member: str
    records: list[AttestRecord]
    not_seated: int
    standing_known: bool = True  # False: the node did not answer when the summary was made
    on_duty: bool = False
    faults: int = 0
    slashes: int = 0
    reputation_bps: int = 0

    def describe(self) -> str:
        """A few lines for people."""
        attested = [r for r in self.records if r.attested]
        lines = [
            f"member {self.member}: attested {len(attested)} rounds, missed "
            f"{len(self.records) - len(attested)}, not seated in {self.not_seated}",
        ]
        for r in self.records:
            judged = f" [{r.judged}]" if r.judged else ""
            lines.append(f"  task {r.task_id} round {r.round}: {r.describe()}{judged}")
        if not self.standing_known:
            lines.append("standing unknown: the node did not answer (`synod query committee members`)")
            return "\n".join(lines)
        duty = "on committee duty" if self.on_duty else "not on committee duty"
        lines.append(
            f"{duty}; faults since the last slash {self.faults}, slashed {self.slashes} times; "
            f"reputation {self.reputation_bps / 100:.2f}%"
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """The fields as JSON-able values."""
        return asdict(self)


def _judgement(scores: committee_pb2.RoundScores, member: str) -> str:
    """How the chain judged member in a round."""
    mine = next((m for m in scores.members if m.operator == member), None)
    if mine is None:
        return "not among the judged seats"
    deviation = f"deviation {mine.max_deviation_bps / 100:.2f}%"
    if not mine.faulty:
        return f"within tolerance, {deviation}"
    return f"faulty, {deviation}" + (", slashed" if mine.slashed else "")


def compute_summary(
    client: CommitteeClient, member: str, records: Sequence[AttestRecord], not_seated: int
) -> MemberSummary:
    """The summary, with the chain's judgement of each round and the member's standing.

    Asks the node once per item and never waits for it: a summary is made on the way out, when
    the node may be gone; what it cannot learn is marked unknown.
    """
    try:
        members = client.members()
        reputation = client.reputation(member)
    except RpcError:
        unjudged = [replace(r, judged="unknown: node unreachable") for r in records]
        return MemberSummary(member, unjudged, not_seated, standing_known=False)
    judged = []
    for r in records:
        try:
            judged.append(replace(r, judged=_judgement(client.scores(r.task_id, r.round), member)))
        except QueryFailed:
            judged.append(replace(r, judged="not judged yet"))
        except RpcError:
            judged.append(replace(r, judged="unknown: node unreachable"))
    mine = next((m for m in members if m.operator == member), None)
    return MemberSummary(
        member,
        judged,
        not_seated,
        on_duty=mine is not None,
        faults=mine.faults if mine else 0,
        slashes=mine.slashes if mine else 0,
        reputation_bps=reputation.score_bps,
    )
