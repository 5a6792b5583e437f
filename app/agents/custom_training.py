"""A worker's round trained by the user's own fit function (app/agents/usercode.py) instead of Synod's loop.

The user's code gets the global model as a list of float32 blocks in flat-layout order and a config
of the task's hyperparameters; what it returns is checked (as many blocks, the same shapes, castable
to float32, all finite; a sample count in the chain's bounds) and turned into the same quantized
delta (new - global) that LocalTrainer sends. Synod keeps the quantization, the commitment and the
restart safety: a failure here is a TrainingError before anything is committed.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from app.agents.training import (
    WARM_UP_WORKER,
    Relabel,
    TrainedUpdate,
    TrainingError,
    compute_train_seed,
    decode_global_weights,
)
from app.agents.usercode import ConfigValue, UserTrainer
from app.core.architectures import compute_layout, resolve_input_shape
from app.core.fixedpoint import UPDATE_FORMAT
from app.ml.quantize import UPDATE_SPEC, WEIGHT_SPEC, QuantizationError, dequantize, quantize_delta
from app.ml.schema import TaskSchema
from app.modules.tasks.msg_server import MAX_SAMPLES
from synod.tasks.v1 import tasks_pb2

if TYPE_CHECKING:
    from app.ml.train import StepCallback

__all__ = ["CustomTrainer", "compute_fit_config"]


def compute_fit_config(
    task: tasks_pb2.Task, round_: int, worker: str, data_spec: str
) -> dict[str, ConfigValue]:
    """fit's config: the task's hyperparameters, the round, task id and shuffle seed, the task's data
    schema (JSON) and model input shape, and the data spec (load_fit_data reads it through the schema)."""
    h = task.hyper
    config: dict[str, ConfigValue] = {
        "optimizer": h.optimizer,
        "learning_rate": h.learning_rate_ppm / 1e6,
        "batch_size": h.batch_size,
        "local_epochs": h.local_epochs,
        "round": round_,
        "task_id": task.id,
        "seed": compute_train_seed(task.id, round_, worker),
        "schema": TaskSchema.from_task(task).to_json(),
        "input_shape": ",".join(str(d) for d in task.model.input_shape),
    }
    if data_spec:
        config["data"] = data_spec
    return config


# --- the model's blocks: app/core's layout fixes their order in the flat vector -------------------


def _block_shapes(task: tasks_pb2.Task) -> list[tuple[int, ...]]:
    """The shapes of the model's parameter blocks, in flat-layout order."""
    m = task.model
    shape = resolve_input_shape(m.n_features, m.input_shape)
    return [block.shape for block in compute_layout(m.arch, shape, m.n_classes)]


def _to_arrays(task: tasks_pb2.Task, flat: NDArray[np.float32]) -> list[NDArray[np.float32]]:
    """The flat vector cut into its blocks (fresh float32 copies the user's code may change)."""
    arrays, offset = [], 0
    for shape in _block_shapes(task):
        size = int(np.prod(shape))
        arrays.append(np.array(flat[offset : offset + size], dtype=np.float32).reshape(shape))
        offset += size
    return arrays


def _from_arrays(arrays: Sequence[NDArray[np.float32]]) -> NDArray[np.float32]:
    """The blocks (already checked against _block_shapes) joined into the flat vector."""
    return np.concatenate([a.ravel() for a in arrays]).astype(np.float32)


# --- checks of what fit returned ------------------------------------------------------------------


def _check_blocks(returned: object, shapes: list[tuple[int, ...]]) -> list[NDArray[np.float32]]:
    """The returned parameters as float32 blocks; TrainingError naming the first one that is wrong."""
    if not isinstance(returned, list | tuple):
        raise TrainingError(f"parameters must be a list of numpy arrays, got a {type(returned).__name__}")
    if len(returned) != len(shapes):
        raise TrainingError(f"returned {len(returned)} parameter arrays; the task's model has {len(shapes)}")
    blocks = []
    for i, (value, shape) in enumerate(zip(returned, shapes, strict=True)):
        try:
            array = np.asarray(value)
        except ValueError as e:
            raise TrainingError(f"parameter array {i} is not an array: {e}") from None
        if array.shape != shape:
            raise TrainingError(f"parameter array {i} has shape {array.shape}; the model's is {shape}")
        if not np.can_cast(array.dtype, np.float32, casting="same_kind"):
            raise TrainingError(f"parameter array {i} has dtype {array.dtype}, which is not a real number")
        block = array.astype(np.float32)
        if not np.all(np.isfinite(block)):
            raise TrainingError(f"parameter array {i} has NaN or infinite entries; the training diverged")
        blocks.append(block)
    return blocks


def _check_examples(count: object) -> int:
    """The returned number of examples, an integer in the chain's range."""
    if isinstance(count, bool) or not isinstance(count, int | np.integer):
        raise TrainingError(f"num_examples must be an int, got a {type(count).__name__}")
    if not 1 <= int(count) <= MAX_SAMPLES:
        raise TrainingError(f"num_examples must be in [1, {MAX_SAMPLES}], got {int(count)}")
    return int(count)


def _check_result(result: object, shapes: list[tuple[int, ...]]) -> tuple[list[NDArray[np.float32]], int]:
    """fit's (parameters, num_examples, metrics), checked."""
    if not isinstance(result, tuple | list) or len(result) != 3:
        raise TrainingError(
            f"fit must return (parameters, num_examples, metrics), got a {type(result).__name__}"
            + (f" of {len(result)}" if isinstance(result, tuple | list) else "")
        )
    parameters, count, metrics = result
    if not isinstance(metrics, Mapping):
        raise TrainingError(f"metrics must be a dict, got a {type(metrics).__name__}")
    return _check_blocks(parameters, shapes), _check_examples(count)


def _where(error: BaseException) -> str:
    """The file and line of the innermost frame that raised, for a one-line error."""
    frames = traceback.extract_tb(error.__traceback__)
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


class CustomTrainer:
    """The Trainer (app/agents/training.py) that runs the user's fit function on one task."""

    def __init__(self, task: tasks_pb2.Task, data_spec: str, user: UserTrainer) -> None:
        if task.trace.every_steps:
            raise TrainingError(
                f"task {task.id} is a trace task (public data, proof of learning every "
                f"{task.trace.every_steps} steps): only Synod's own training can produce its trace; "
                "run the worker without --trainer"
            )
        self.task = task
        self.data_spec = data_spec
        self.user = user
        self._samples: int | None = None

    @property
    def samples(self) -> int | None:
        """The examples the user's code last reported (None before its first fit)."""
        return self._samples

    @property
    def description(self) -> str:
        """What trains, for the worker's messages."""
        return f"trainer {self.user.name}"

    def warm_up(self, initial_weights: bytes) -> None:
        """Run fit once on the initial model (result checked, then dropped): loads and compiles early."""
        self.train(initial_weights, 0, WARM_UP_WORKER)

    def train(
        self,
        weights: bytes,
        round_: int,
        worker: str,
        relabel: Relabel | None = None,
        on_step: StepCallback | None = None,
    ) -> TrainedUpdate:
        """fit from the global weights; return the UPDATE_FORMAT bytes of (new - global). The user's
        fit reports no steps, so on_step is not called."""
        if relabel is not None:
            raise TrainingError("a relabelling attack needs Synod's own training; run without --trainer")
        start = dequantize(decode_global_weights(self.task, weights), WEIGHT_SPEC)
        config = compute_fit_config(self.task, round_, worker, self.data_spec)
        try:
            result = self.user.fit(_to_arrays(self.task, start), config)
        except Exception as e:
            raise TrainingError(
                f"round {round_}: {self.user.name} raised {type(e).__name__}: {e}{_where(e)}"
            ) from None
        try:
            blocks, count = _check_result(result, _block_shapes(self.task))
            update = quantize_delta(_from_arrays(blocks), start, UPDATE_SPEC)
        except (TrainingError, QuantizationError) as e:
            raise TrainingError(f"round {round_}: {self.user.name}: {e}") from None
        self._samples = count
        return TrainedUpdate(UPDATE_FORMAT.encode(update), count)
