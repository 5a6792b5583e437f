"""The tasks and consensus-query panels: module state read through one Querier.

Every read goes through the module's query service (the same answer functions as `synod query`),
over the querier the explorer was given: abci_query, or gRPC verified against light-client headers
when the home has a trust anchor. A closed round never changes, so its committee and verdicts are
read once and kept (`RoundCache`); only the open round and the task itself are read per block.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from app.client.querier import Querier, ask_list
from app.client.rpc import QueryFailed
from app.client.tasks import TasksClient
from synod.committee.v1 import committee_pb2
from synod.committee.v1 import query_pb2 as committee_q
from synod.consensus.v1 import query_pb2 as consensus_q
from synod.tasks.v1 import tasks_pb2

__all__ = [
    "MAX_QUERIES",
    "MAX_ROUNDS_SHOWN",
    "MAX_TASKS",
    "RoundCache",
    "compute_json",
    "compute_round_row",
    "get_queries_panel",
    "get_tasks_panel",
]

# Newest tasks and queries shown, and participants per query whose reputation is read: a page
# costs the node a bounded number of reads per block however much the chain holds.
# The snapshot stays a few MiB at the largest parameters (a round's verdicts list up to max_workers
# updates and its committee up to max_committee_size seats): app/explorer/README.md.
MAX_TASKS = 10
MAX_QUERIES = 20
MAX_REPUTATIONS = 50
# Newest rounds of a task on its timeline (each closed one costs two reads, once).
MAX_ROUNDS_SHOWN = 30


def compute_json(message: Message) -> dict[str, Any]:
    """Proto3 JSON with proto field names and zero values; bytes fields as hex, not base64."""
    data = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    for field, value in message.ListFields():
        if isinstance(value, bytes):
            data[field.name] = value.hex()
        elif field.type == field.TYPE_BYTES:  # repeated bytes
            data[field.name] = [v.hex() for v in value]
        elif isinstance(value, Message):
            data[field.name] = compute_json(value)
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            data[field.name] = [compute_json(v) for v in value]
    return data


def _enum(enum: Any, value: int, prefix: str) -> str:
    """ROUND_OUTCOME_AGGREGATED -> aggregated."""
    return enum.Name(value).removeprefix(prefix).lower()


def _maybe(ask: Any) -> Any:
    """ask()'s answer, or None when the chain holds no such record (a registered refusal)."""
    try:
        return ask()
    except QueryFailed:
        return None


def compute_round_row(
    record: tasks_pb2.RoundRecord | None, round_: int, scores: committee_pb2.RoundScores | None
) -> dict[str, Any]:
    """One row of the round timeline: outcome, counts, checkpoint hash, committee score (bps)."""
    row: dict[str, Any] = {"round": round_, "outcome": "open", "model_hash": "", "height": 0}
    if record is not None:
        row.update(
            outcome=_enum(tasks_pb2.RoundOutcome, record.outcome, "ROUND_OUTCOME_"),
            model_hash=record.model_hash.hex(),
            height=record.height,
            committed=record.committed,
            revealed=record.revealed,
            accepted=list(record.accepted_workers),
            rejected=list(record.rejected_workers),
            missed=list(record.missed_workers),
            note=record.note,
            pruned=record.pruned,
        )
    if scores is not None:
        accepted = [u.median_bps for u in scores.updates if u.verdict == committee_pb2.VERDICT_ACCEPTED]
        row["baseline_bps"] = scores.baseline_bps
        row["accepted_median_bps"] = sorted(accepted)[len(accepted) // 2] if accepted else None
    return row


class RoundCache:
    """Committee, verdicts and checkpoint records of closed rounds, read once: {(task, round): ...}."""

    def __init__(self) -> None:
        self.closed: dict[tuple[int, int], dict[str, Any]] = {}

    def get_round(self, querier: Querier, task_id: int, round_: int, closed: bool) -> dict[str, Any]:
        """The committee of (task, round) and its verdicts; kept once the round is closed."""
        key = (task_id, round_)
        if key in self.closed:
            return self.closed[key]
        committee = _maybe(
            lambda: querier.ask_all(
                "committee", "Committee", committee_q.QueryCommitteeRequest(task_id=task_id, round=round_)
            )
        )
        scores = _maybe(
            lambda: querier.ask(
                "committee", "Scores", committee_q.QueryScoresRequest(task_id=task_id, round=round_)
            ).scores
        )
        found = {
            "committee": compute_json(committee.committee) if committee is not None else None,
            "attestations": [compute_json(a) for a in committee.attestations] if committee else [],
            "scores": scores,
        }
        if closed:
            self.closed[key] = found
        return found


def _verdict_json(scores: committee_pb2.RoundScores | None) -> dict[str, Any] | None:
    """Round verdicts as JSON, verdict names lower case."""
    if scores is None:
        return None
    data = compute_json(scores)
    for update, source in zip(data["updates"], scores.updates, strict=True):
        update["verdict"] = _enum(committee_pb2.Verdict, source.verdict, "VERDICT_")
    return data


def _task_json(querier: Querier, client: TasksClient, task: tasks_pb2.Task, cache: RoundCache) -> dict:
    """One task: status, phase, round timeline with committee and verdicts, participants."""
    where = client.task(task.id)
    records = {r.round: r for r in client.rounds(task.id)}
    rounds = []
    last = min(task.rounds_done + 1, task.schedule.rounds)  # the open round, if any
    for round_ in range(max(1, last - MAX_ROUNDS_SHOWN + 1), last + 1):
        record = records.get(round_)
        judged = cache.get_round(querier, task.id, round_, closed=record is not None)
        row = compute_round_row(record, round_, judged["scores"])
        row.update(committee=judged["committee"], verdicts=_verdict_json(judged["scores"]))
        rounds.append(row)
    initial = records.get(0)
    return {
        "id": task.id,
        "description": task.description,
        "owner": task.owner,
        "status": _enum(tasks_pb2.TaskStatus, task.status, "TASK_STATUS_"),
        "phase": where.phase,
        "round": where.round,
        "phase_end_height": where.phase_end_height,
        "rounds_done": task.rounds_done,
        "rounds_total": task.schedule.rounds,
        "arch": task.model.arch,
        "dataset": task.data.dataset,
        "aggregation": task.aggregation.rule,
        "worker_stake": f"{task.worker_stake.amount}{task.worker_stake.denom}",
        "initial_model_hash": initial.model_hash.hex() if initial is not None else "",
        "rounds": rounds,
        "participants": [compute_json(p) for p in client.participants(task.id)],
    }


def get_tasks_panel(querier: Querier, cache: RoundCache) -> list[dict[str, Any]]:
    """The newest MAX_TASKS tasks, newest first."""
    client = TasksClient(querier)
    tasks = sorted(client.tasks(), key=lambda t: t.id, reverse=True)[:MAX_TASKS]
    return [_task_json(querier, client, t, cache) for t in tasks]


def _query_json(querier: Querier, query: Any) -> dict[str, Any]:
    """One prediction query: phase, rounds, settlement and accuracy, participants' reputations."""
    where = querier.ask("consensus", "Query", consensus_q.QueryQueryRequest(query_id=query.id))
    answer = _maybe(
        lambda: querier.ask("consensus", "Answer", consensus_q.QueryAnswerRequest(query_id=query.id))
    )
    members = ask_list(
        querier,
        "consensus",
        "Participants",
        consensus_q.QueryParticipantsRequest(query_id=query.id),
        "participants",
    )
    participants = []
    for index, p in enumerate(members):
        row = compute_json(p)
        if index < MAX_REPUTATIONS:
            rep = querier.ask(
                "consensus", "Reputation", consensus_q.QueryReputationRequest(address=p.address)
            )
            row["reputation_now_bps"] = rep.reputation.score_bps
        participants.append(row)
    settlement = None
    if answer is not None:
        s = answer.settlement
        settlement = {
            "height": s.height,
            "round": s.round,
            "voters": len(s.voters),
            "answers": s.answers.hex(),
            "labels_revealed": s.labels_revealed,
            "accuracy_bps": s.accuracy_bps if s.labels_revealed else None,
            "tallies": [compute_json(t) for t in s.tallies[:50]],
        }
    return {
        "id": query.id,
        "description": query.description,
        "poster": query.poster,
        "fast": query.fast,
        "inputs": query.input_count,
        "labels": query.label_count,
        "rounds_total": query.rounds,
        "phase": where.phase,
        "round": where.round,
        "phase_end_height": where.phase_end_height,
        "settlement": settlement,
        "participants": participants,
    }


def get_queries_panel(querier: Querier) -> list[dict[str, Any]]:
    """The newest MAX_QUERIES prediction queries, newest first."""
    queries = ask_list(querier, "consensus", "Queries", consensus_q.QueryQueriesRequest(), "queries")
    newest = sorted(queries, key=lambda q: q.id, reverse=True)[:MAX_QUERIES]
    return [_query_json(querier, q) for q in newest]
