"""tasks queries over committed state: tasks, phases, rounds, checkpoints, participants, updates.

Data of every path is a tasks.v1 Query*Request; the answer is the matching Query*Response.
"""

from __future__ import annotations

from collections.abc import Callable

from app.core.errors import ErrNotFound
from app.core.msgs import decode_address_field
from app.core.tx import parse_canonical
from app.modules.tasks import logic
from app.modules.tasks.keeper import TasksKeeper
from app.state.kv import KVReader
from synod.tasks.v1 import query_pb2, tasks_pb2

__all__ = ["routes"]

_TERMINAL_PHASE = {
    tasks_pb2.TASK_STATUS_FINISHED: "finished",
    tasks_pb2.TASK_STATUS_CANCELLED: "cancelled",
    tasks_pb2.TASK_STATUS_FAILED: "failed",
}


def _task(
    k: TasksKeeper, view: KVReader, req: query_pb2.QueryTaskRequest, height: int
) -> query_pb2.QueryTaskResponse:
    """A task and where it stands at the next block (the first one a new tx can land in)."""
    task = k.require_task(view, req.task_id)  # type: ignore[arg-type]
    if task.status in _TERMINAL_PHASE:
        return query_pb2.QueryTaskResponse(
            task=task, phase=_TERMINAL_PHASE[task.status], round=task.rounds_done
        )
    phase = logic.compute_phase(task, height + 1)
    return query_pb2.QueryTaskResponse(
        task=task, phase=phase.name, round=phase.round, phase_end_height=phase.end_height
    )


def _model(k: TasksKeeper, view: KVReader, req: query_pb2.QueryModelRequest) -> query_pb2.QueryModelResponse:
    """One round's checkpoint record and its weights."""
    record = k.get_round(view, req.task_id, req.round)  # type: ignore[arg-type]
    if record is None:
        raise ErrNotFound.wrap(f"task {req.task_id} has no checkpoint for round {req.round} yet")
    weights = k.get_model(view, record.model_hash)  # type: ignore[arg-type]
    return query_pb2.QueryModelResponse(round=record, weights=weights or b"")


def _update(
    k: TasksKeeper, view: KVReader, req: query_pb2.QueryUpdateRequest
) -> query_pb2.QueryUpdateResponse:
    """A revealed update of the open round."""
    worker = decode_address_field(req.worker, "worker")
    reveal = k.get_reveal(view, req.task_id, req.round, worker)  # type: ignore[arg-type]
    payload = k.get_update(view, req.task_id, req.round, worker)  # type: ignore[arg-type]
    if reveal is None or payload is None:
        raise ErrNotFound.wrap(
            f"no revealed update of {req.worker} in round {req.round} of task {req.task_id}"
        )
    return query_pb2.QueryUpdateResponse(reveal=reveal, update=payload)


def _trace(k: TasksKeeper, view: KVReader, req: query_pb2.QueryTraceRequest) -> query_pb2.QueryTraceResponse:
    """A revealed training trace of the open round (trace tasks)."""
    worker = decode_address_field(req.worker, "worker")
    reveal = k.get_reveal(view, req.task_id, req.round, worker)  # type: ignore[arg-type]
    trace = k.get_trace(view, req.task_id, req.round, worker)  # type: ignore[arg-type]
    if reveal is None or trace is None:
        raise ErrNotFound.wrap(
            f"no revealed trace of {req.worker} in round {req.round} of task {req.task_id}"
        )
    return query_pb2.QueryTraceResponse(reveal=reveal, trace=trace)


def routes(
    k: TasksKeeper, view: Callable[[], KVReader], height: Callable[[], int]
) -> dict[str, Callable[[bytes], bytes]]:
    """Query paths of the tasks module, each taking request bytes and returning response bytes."""

    def handler(request_cls: type, answer: Callable) -> Callable[[bytes], bytes]:
        def handle(data: bytes) -> bytes:
            req = parse_canonical(request_cls, data, "query data")
            return answer(req).SerializeToString(deterministic=True)

        return handle

    return {
        "/tasks/task": handler(query_pb2.QueryTaskRequest, lambda r: _task(k, view(), r, height())),
        "/tasks/tasks": handler(
            query_pb2.QueryTasksRequest,
            lambda r: query_pb2.QueryTasksResponse(tasks=list(k.iterate_tasks(view()))),  # type: ignore[arg-type]
        ),
        "/tasks/rounds": handler(
            query_pb2.QueryRoundsRequest,
            lambda r: query_pb2.QueryRoundsResponse(rounds=list(k.iterate_rounds(view(), r.task_id))),  # type: ignore[arg-type]
        ),
        "/tasks/model": handler(query_pb2.QueryModelRequest, lambda r: _model(k, view(), r)),
        "/tasks/participants": handler(
            query_pb2.QueryParticipantsRequest,
            lambda r: query_pb2.QueryParticipantsResponse(
                participants=[p for _, p in k.iterate_participants(view(), r.task_id)]  # type: ignore[arg-type]
            ),
        ),
        "/tasks/round-state": handler(
            query_pb2.QueryRoundStateRequest,
            lambda r: query_pb2.QueryRoundStateResponse(
                commitments=[c for _, c in k.iterate_commitments(view(), r.task_id, r.round)],  # type: ignore[arg-type]
                reveals=[v for _, v in k.iterate_reveals(view(), r.task_id, r.round)],  # type: ignore[arg-type]
            ),
        ),
        "/tasks/update": handler(query_pb2.QueryUpdateRequest, lambda r: _update(k, view(), r)),
        "/tasks/trace": handler(query_pb2.QueryTraceRequest, lambda r: _trace(k, view(), r)),
        "/tasks/params": handler(
            query_pb2.QueryParamsRequest,
            lambda r: query_pb2.QueryParamsResponse(params=k.get_params(view())),  # type: ignore[arg-type]
        ),
    }
