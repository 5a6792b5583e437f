"""What the chain checks of a revealed training trace (trace tasks: public training data).

A trace is the worker's int32 checkpoints (WEIGHT_FORMAT) after every `every_steps` optimizer
steps, concatenated: checkpoint 0 is the round's global model and the last is the worker's final
weights (app/ml/trace.py writes it). The chain checks what it can exactly and cheaply: the size,
that checkpoint 0 is the current model, and that the revealed update is the one the trace's end
points determine. Whether the steps in between are real training is the committee's spot check.
"""

from __future__ import annotations

import numpy as np

from app.core.fixedpoint import WEIGHT_FORMAT, FixedPointError, compute_update_between, content_hash
from app.modules.tasks.errors import ErrBadUpdate
from synod.tasks.v1 import tasks_pb2

__all__ = ["check_trace"]

MAX_SPEC_CHARS = 256


def check_trace(
    task: tasks_pb2.Task,
    size: int,
    update: np.ndarray,
    trace: bytes,
    data_spec: str,
    max_checkpoints: int,
) -> None:
    """Raise ErrBadUpdate unless the trace fits the task, starts at its model and ends at the update."""
    if not 0 < len(data_spec) <= MAX_SPEC_CHARS:
        raise ErrBadUpdate.wrap(
            f"a trace task's reveal names its shard in data_spec (1-{MAX_SPEC_CHARS} chars)"
        )
    width = size * WEIGHT_FORMAT.width
    count, extra = divmod(len(trace), width)
    if extra or not 2 <= count <= max_checkpoints:
        raise ErrBadUpdate.wrap(
            f"the trace must be 2-{max_checkpoints} checkpoints of {width} bytes, got {len(trace)} bytes"
        )
    if content_hash(trace[:width]) != task.model_hash:
        raise ErrBadUpdate.wrap("the trace's first checkpoint is not the round's global model")
    try:
        first = WEIGHT_FORMAT.decode(trace[:width], size)
        last = WEIGHT_FORMAT.decode(trace[-width:], size)
    except FixedPointError as e:
        raise ErrBadUpdate.wrap(f"trace: {e}") from None
    if not np.array_equal(compute_update_between(first, last), update):
        raise ErrBadUpdate.wrap("the update is not the difference of the trace's last and first checkpoints")
