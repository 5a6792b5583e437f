"""Typed reads of the tasks module over CometBFT's abci_query, with checkpoint hash checks."""

from __future__ import annotations

import hashlib

from app.client.rpc import CometRPC
from synod.tasks.v1 import query_pb2, tasks_pb2

__all__ = ["CheckpointMismatch", "TasksClient"]


class CheckpointMismatch(ValueError):
    """Downloaded weights do not hash to the checkpoint's on-chain model hash."""


class TasksClient:
    """Queries of /tasks/* paths through one node's RPC."""

    def __init__(self, rpc: CometRPC) -> None:
        self.rpc = rpc

    def task(self, task_id: int) -> query_pb2.QueryTaskResponse:
        """The task and its phase at the next block."""
        req = query_pb2.QueryTaskRequest(task_id=task_id)
        return self.rpc.query_proto("/tasks/task", _bytes(req), query_pb2.QueryTaskResponse)

    def tasks(self) -> list[tasks_pb2.Task]:
        """Every task."""
        resp = self.rpc.query_proto("/tasks/tasks", b"", query_pb2.QueryTasksResponse)
        return list(resp.tasks)

    def rounds(self, task_id: int) -> list[tasks_pb2.RoundRecord]:
        """The task's checkpoint records, round 0 (initial model) first."""
        req = query_pb2.QueryRoundsRequest(task_id=task_id)
        return list(self.rpc.query_proto("/tasks/rounds", _bytes(req), query_pb2.QueryRoundsResponse).rounds)

    def participants(self, task_id: int) -> list[tasks_pb2.Participant]:
        """The task's workers."""
        req = query_pb2.QueryParticipantsRequest(task_id=task_id)
        resp = self.rpc.query_proto("/tasks/participants", _bytes(req), query_pb2.QueryParticipantsResponse)
        return list(resp.participants)

    def round_state(self, task_id: int, round_: int) -> query_pb2.QueryRoundStateResponse:
        """The open round's commitments and reveals."""
        req = query_pb2.QueryRoundStateRequest(task_id=task_id, round=round_)
        return self.rpc.query_proto("/tasks/round-state", _bytes(req), query_pb2.QueryRoundStateResponse)

    def model(self, task_id: int, round_: int) -> tuple[tasks_pb2.RoundRecord, bytes]:
        """A round's checkpoint record and weights, the weights checked against its model hash."""
        req = query_pb2.QueryModelRequest(task_id=task_id, round=round_)
        resp = self.rpc.query_proto("/tasks/model", _bytes(req), query_pb2.QueryModelResponse)
        digest = hashlib.sha256(resp.weights).digest()
        if digest != resp.round.model_hash:
            raise CheckpointMismatch(
                f"round {round_} of task {task_id}: weights hash to {digest.hex()}, the chain records "
                f"{resp.round.model_hash.hex()}; the node served corrupt data"
            )
        return resp.round, resp.weights


def _bytes(req: object) -> bytes:
    """A request's deterministic encoding (the app rejects non-canonical query data)."""
    return req.SerializeToString(deterministic=True)  # type: ignore[attr-defined]
