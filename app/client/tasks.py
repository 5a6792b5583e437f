"""Typed reads of the tasks module over any Querier (abci_query, gRPC, or verified gRPC), with
checkpoint hash checks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from google.protobuf.message import Message

from app.client.querier import QuerySource, as_querier, ask_list
from synod.tasks.v1 import query_pb2 as q
from synod.tasks.v1 import tasks_pb2

__all__ = ["CheckpointMismatch", "OpenRound", "TasksClient"]


class CheckpointMismatch(ValueError):
    """Downloaded weights do not hash to the checkpoint's on-chain model hash."""


@dataclass(frozen=True)
class OpenRound:
    """The open round's commitments and reveals."""

    commitments: list[tasks_pb2.Commitment]
    reveals: list[tasks_pb2.Reveal]


class TasksClient:
    """Queries of `synod.tasks.v1.Query` through one querier (an RPC client means abci_query)."""

    def __init__(self, source: QuerySource) -> None:
        self.querier = as_querier(source)

    def _all(self, method: str, request: Message, field: str) -> list:
        """Every item of a list answer."""
        return ask_list(self.querier, "tasks", method, request, field)

    def task(self, task_id: int) -> q.QueryTaskResponse:
        """The task and its phase at the next block."""
        return self.querier.ask("tasks", "Task", q.QueryTaskRequest(task_id=task_id))

    def tasks(self) -> list[tasks_pb2.Task]:
        """Every task."""
        return self._all("Tasks", q.QueryTasksRequest(), "tasks")

    def rounds(self, task_id: int) -> list[tasks_pb2.RoundRecord]:
        """The task's checkpoint records, round 0 (initial model) first."""
        return self._all("Rounds", q.QueryRoundsRequest(task_id=task_id), "rounds")

    def participants(self, task_id: int) -> list[tasks_pb2.Participant]:
        """The task's workers."""
        return self._all("Participants", q.QueryParticipantsRequest(task_id=task_id), "participants")

    def round_state(self, task_id: int, round_: int) -> OpenRound:
        """The open round's commitments and reveals."""
        return OpenRound(
            self._all("Commitments", q.QueryCommitmentsRequest(task_id=task_id, round=round_), "commitments"),
            self._all("Reveals", q.QueryRevealsRequest(task_id=task_id, round=round_), "reveals"),
        )

    def params(self) -> tasks_pb2.Params:
        """The module's limits."""
        return self.querier.ask("tasks", "Params", q.QueryParamsRequest()).params

    def update(self, task_id: int, round_: int, worker: str) -> q.QueryUpdateResponse:
        """A worker's revealed update of the open round, as served (check it with its reveal's hash)."""
        return self.querier.ask(
            "tasks", "Update", q.QueryUpdateRequest(task_id=task_id, round=round_, worker=worker)
        )

    def trace(self, task_id: int, round_: int, worker: str) -> q.QueryTraceResponse:
        """A worker's revealed training trace, as served (check it with its reveal's hash)."""
        return self.querier.ask(
            "tasks", "Trace", q.QueryTraceRequest(task_id=task_id, round=round_, worker=worker)
        )

    def model(self, task_id: int, round_: int) -> tuple[tasks_pb2.RoundRecord, bytes]:
        """A round's checkpoint record and weights, the weights checked against its model hash."""
        resp = self.querier.ask("tasks", "Model", q.QueryModelRequest(task_id=task_id, round=round_))
        digest = hashlib.sha256(resp.weights).digest()
        if digest != resp.round.model_hash:
            raise CheckpointMismatch(
                f"round {round_} of task {task_id}: weights hash to {digest.hex()}, the chain records "
                f"{resp.round.model_hash.hex()}; the node served corrupt data"
            )
        return resp.round, resp.weights
