"""tasks queries: tasks and their phase, rounds, checkpoints with weights, participants, the open
round's commitments, reveals, updates and traces, and params.

One pure answer per rpc of `synod.tasks.v1.Query`, shared by gRPC, ABCI Query and the verifying
client. Each reads full state keys through a StateReader and derives every field from what it read
(a task's phase from the task and the reader's height), so a client can re-derive it from proofs.
"""

from __future__ import annotations

from app.core.errors import ErrNotFound
from app.core.query import (
    QueryService,
    StateReader,
    parse_address,
    read_message,
    require_message,
)
from app.modules.tasks import keys, logic
from app.modules.tasks.errors import ErrPruned, ErrTaskNotFound
from app.modules.tasks.keeper import read_update
from app.modules.tasks.params import default_params
from synod.tasks.v1 import query_pb2 as q
from synod.tasks.v1 import tasks_pb2

__all__ = [
    "SERVICE",
    "answer_commitments",
    "answer_model",
    "answer_params",
    "answer_participants",
    "answer_reveals",
    "answer_rounds",
    "answer_task",
    "answer_tasks",
    "answer_trace",
    "answer_update",
]

_TERMINAL_PHASE = {
    tasks_pb2.TASK_STATUS_FINISHED: "finished",
    tasks_pb2.TASK_STATUS_CANCELLED: "cancelled",
    tasks_pb2.TASK_STATUS_FAILED: "failed",
}


def _key(table_key: bytes) -> bytes:
    """Full state key of a tasks table key."""
    return keys.STORE_PREFIX + table_key


def _require_task(state: StateReader, task_id: int) -> tasks_pb2.Task:
    """The task, or ErrTaskNotFound saying how to list them."""
    return require_message(
        state,
        _key(keys.task_key(task_id)),
        tasks_pb2.Task,
        ErrTaskNotFound,
        f"no task with id {task_id}; list them with `synod query task list`",
    )


def answer_task(state: StateReader, request: q.QueryTaskRequest) -> q.QueryTaskResponse:
    """A task and where it stands at the next block (the first one a new tx can land in)."""
    task = _require_task(state, request.task_id)
    if task.status in _TERMINAL_PHASE:
        return q.QueryTaskResponse(task=task, phase=_TERMINAL_PHASE[task.status], round=task.rounds_done)
    phase = logic.compute_phase(task)
    return q.QueryTaskResponse(
        task=task, phase=phase.name, round=phase.round, phase_end_height=phase.end_height
    )


def answer_tasks(state: StateReader, request: q.QueryTasksRequest) -> q.QueryTasksResponse:
    """A page of tasks in id order."""
    items, page = state.page(_key(keys.TASK), request.pagination)
    return q.QueryTasksResponse(tasks=[tasks_pb2.Task.FromString(raw) for _, raw in items], pagination=page)


def answer_rounds(state: StateReader, request: q.QueryRoundsRequest) -> q.QueryRoundsResponse:
    """A page of a task's checkpoint records in round order."""
    items, page = state.page(_key(keys.round_key(request.task_id)), request.pagination)
    return q.QueryRoundsResponse(
        rounds=[tasks_pb2.RoundRecord.FromString(raw) for _, raw in items], pagination=page
    )


def answer_model(state: StateReader, request: q.QueryModelRequest) -> q.QueryModelResponse:
    """One round's checkpoint record and its weights (stored by content hash)."""
    record = require_message(
        state,
        _key(keys.round_key(request.task_id, request.round)),
        tasks_pb2.RoundRecord,
        ErrNotFound,
        f"task {request.task_id} has no checkpoint for round {request.round} yet",
    )
    if record.pruned:
        raise ErrPruned.wrap(
            f"round {request.round} of task {request.task_id} is pruned: its hash "
            f"{record.model_hash.hex()} stays on chain, its weights were released under "
            "tasks.checkpoint_retention_bytes (ask for a newer round)"
        )
    weights = state.get(_key(keys.model_key(record.model_hash)))
    return q.QueryModelResponse(round=record, weights=weights or b"")


def answer_participants(
    state: StateReader, request: q.QueryParticipantsRequest
) -> q.QueryParticipantsResponse:
    """A page of a task's workers in address order."""
    items, page = state.page(_key(keys.participant_key(request.task_id)), request.pagination)
    return q.QueryParticipantsResponse(
        participants=[tasks_pb2.Participant.FromString(raw) for _, raw in items], pagination=page
    )


def answer_commitments(state: StateReader, request: q.QueryCommitmentsRequest) -> q.QueryCommitmentsResponse:
    """A page of the open round's commitments in worker order."""
    items, page = state.page(_key(keys.commitment_key(request.task_id, request.round)), request.pagination)
    return q.QueryCommitmentsResponse(
        commitments=[tasks_pb2.Commitment.FromString(raw) for _, raw in items], pagination=page
    )


def answer_reveals(state: StateReader, request: q.QueryRevealsRequest) -> q.QueryRevealsResponse:
    """A page of the open round's reveals in worker order."""
    items, page = state.page(_key(keys.reveal_key(request.task_id, request.round)), request.pagination)
    return q.QueryRevealsResponse(
        reveals=[tasks_pb2.Reveal.FromString(raw) for _, raw in items], pagination=page
    )


def _require_reveal(
    state: StateReader, task_id: int, round_: int, worker: bytes, text: str
) -> tasks_pb2.Reveal:
    """A worker's reveal of the open round, or ErrNotFound (rounds clear theirs once aggregated)."""
    return require_message(
        state,
        _key(keys.reveal_key(task_id, round_, worker)),
        tasks_pb2.Reveal,
        ErrNotFound,
        f"no reveal of {text} in round {round_} of task {task_id} (reveals are cleared once the round "
        "is aggregated)",
    )


def answer_update(state: StateReader, request: q.QueryUpdateRequest) -> q.QueryUpdateResponse:
    """A revealed update of the open round."""
    worker = parse_address(request.worker, "worker")
    reveal = _require_reveal(state, request.task_id, request.round, worker, request.worker)
    payload = read_update(lambda key: state.get(_key(key)), request.task_id, request.round, worker)
    if payload is None:
        raise ErrNotFound.wrap(f"no revealed update of {request.worker} in round {request.round}")
    return q.QueryUpdateResponse(reveal=reveal, update=payload)


def answer_trace(state: StateReader, request: q.QueryTraceRequest) -> q.QueryTraceResponse:
    """A revealed training trace of the open round (trace tasks)."""
    worker = parse_address(request.worker, "worker")
    reveal = _require_reveal(state, request.task_id, request.round, worker, request.worker)
    trace = state.get(_key(keys.trace_key(request.task_id, request.round, worker)))
    if trace is None:
        raise ErrNotFound.wrap(
            f"no revealed trace of {request.worker} in round {request.round} of task {request.task_id}"
        )
    return q.QueryTraceResponse(reveal=reveal, trace=trace)


def answer_params(state: StateReader, request: q.QueryParamsRequest) -> q.QueryParamsResponse:
    """Params; the defaults apply while none are stored."""
    params = read_message(state, _key(keys.PARAMS), tasks_pb2.Params)
    return q.QueryParamsResponse(params=default_params() if params is None else params)


SERVICE = QueryService(
    "tasks",
    q.DESCRIPTOR.services_by_name["Query"],
    {
        "Task": answer_task,
        "Tasks": answer_tasks,
        "Rounds": answer_rounds,
        "Model": answer_model,
        "Participants": answer_participants,
        "Commitments": answer_commitments,
        "Reveals": answer_reveals,
        "Update": answer_update,
        "Trace": answer_trace,
        "Params": answer_params,
    },
)
