"""The worker's local training: its shard, the task's hyperparameters, a seed per round and worker.

On a trace task (public training data, task.trace.every_steps > 0) the update comes from a training
trace (app/ml/trace.py) and is revealed with it and the data spec. JAX and scikit-learn are imported
on first use: a worker restarted in a reveal phase only needs its saved update, and should reveal
within seconds instead of first spending them on imports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from app.core.architectures import model_param_count
from app.core.crypto import decode_address, encode_address
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT
from synod.tasks.v1 import tasks_pb2

if TYPE_CHECKING:  # JAX is imported on first use (above), not for an annotation
    from app.ml.train import StepCallback

__all__ = [
    "WARM_UP_WORKER",
    "LocalTrainer",
    "Relabel",
    "TrainedUpdate",
    "Trainer",
    "TrainingError",
    "compute_train_seed",
    "decode_global_weights",
]

_SEED_DOMAIN = b"synod/worker/train-seed/v1"
# Warm-up trains as nobody in particular: any valid address compiles the same step.
WARM_UP_WORKER = encode_address(bytes(20))

# The labels a worker trains on, given the true ones and the class count (an attack's poison_labels).
Relabel = Callable[[NDArray[np.int64], int], NDArray[np.int64]]


class TrainingError(Exception):
    """The worker's data does not fit the task, or training diverged."""


def compute_train_seed(task_id: int, round_: int, worker: str) -> int:
    """The shuffle seed of one worker's round: SHA-256 of (domain, task, round, address), 32 bits."""
    digest = hashlib.sha256(_SEED_DOMAIN)
    digest.update(task_id.to_bytes(8, "big") + round_.to_bytes(4, "big") + decode_address(worker))
    return int.from_bytes(digest.digest()[:4], "big")


def decode_global_weights(task: tasks_pb2.Task, payload: bytes) -> NDArray[np.int64]:
    """The task's global model as its int32 fixed-point vector."""
    return WEIGHT_FORMAT.decode(payload, model_param_count(task.model))


@dataclass(frozen=True)
class TrainedUpdate:
    """One round's encoded update, the samples it was trained on, and (trace tasks) its trace."""

    update: bytes
    num_samples: int
    trace: bytes = b""  # int32 checkpoints, concatenated (app/ml/trace.py); empty off trace tasks
    data_spec: str = ""  # the public shard the trace was trained on; empty off trace tasks


class Trainer(Protocol):
    """What the worker needs from local training (LocalTrainer, CustomTrainer; tests substitute their own)."""

    @property
    def samples(self) -> int | None:
        """Rows of training data (None: the user's own code holds the data and has not said yet)."""
        ...

    @property
    def description(self) -> str:
        """What it trains on, for messages (and, for LocalTrainer, the shard loaded and checked)."""
        ...

    def warm_up(self, initial_weights: bytes) -> None:
        """Prepare so that train is quick."""

    def train(
        self,
        weights: bytes,
        round_: int,
        worker: str,
        relabel: Relabel | None = None,
        on_step: StepCallback | None = None,
    ) -> TrainedUpdate:
        """One round's update from the global weights, trained on relabel(labels) when given; on_step
        is told (steps done, steps in all) as training goes, by a trainer that counts steps."""
        ...


class LocalTrainer:
    """Trains one task's updates on one data spec; loads the shard and compiles on first use."""

    def __init__(self, task: tasks_pb2.Task, data_spec: str) -> None:
        self.task = task
        self.data_spec = data_spec
        self._shard: Any = None

    @property
    def samples(self) -> int:
        """Rows in the private shard (loading it if needed)."""
        return len(self._load().x)

    @property
    def description(self) -> str:
        """The shard's size (loading it if needed)."""
        return f"{self.samples} private samples"

    def _load(self) -> Any:
        """The shard, read through the task's schema (a package dataset must be the task's)."""
        if self._shard is None:
            from app.ml.datasets import DatasetError, load_shard, parse_data_spec
            from app.ml.schema import TaskSchema

            try:
                spec = parse_data_spec(self.data_spec)
                if spec.path is None and spec.dataset != self.task.data.dataset:
                    raise DatasetError(
                        f"data {self.data_spec!r} is {spec.dataset}, but task {self.task.id} learns "
                        f"{self.task.data.dataset}"
                    )
                self._shard = load_shard(spec, TaskSchema.from_task(self.task))
            except DatasetError as e:
                raise TrainingError(f"task {self.task.id}: {e}") from None
        return self._shard

    def _config(self, seed: int) -> Any:
        """The task's hyperparameters as a TrainConfig (learning rate from millionths)."""
        from app.ml.train import TrainConfig

        h = self.task.hyper
        return TrainConfig(h.optimizer, h.learning_rate_ppm / 1e6, h.batch_size, h.local_epochs, seed)

    def warm_up(self, initial_weights: bytes) -> None:
        """Load the shard and compile the training step once, so a round's training is quick."""
        self.train(initial_weights, 0, WARM_UP_WORKER)

    def train(
        self,
        weights: bytes,
        round_: int,
        worker: str,
        relabel: Relabel | None = None,
        on_step: StepCallback | None = None,
    ) -> TrainedUpdate:
        """Train from the global weights; return the UPDATE_FORMAT bytes of (new - global).

        On a trace task the update is the one the trace's end points determine, with the trace.
        """
        from app.ml.quantize import QuantizationError

        shard = self._load()
        labels = shard.y if relabel is None else relabel(shard.y, shard.n_classes)
        try:
            if self.task.trace.every_steps:
                return self._train_traced(weights, round_, worker, shard.x, labels, on_step)
            return self._train_plain(weights, round_, worker, shard.x, labels, on_step)
        except QuantizationError as e:
            raise TrainingError(f"round {round_}: {e}") from None

    def _train_plain(
        self,
        weights: bytes,
        round_: int,
        worker: str,
        x: NDArray[np.float32],
        y: NDArray[np.int64],
        on_step: StepCallback | None,
    ) -> TrainedUpdate:
        """Untraced training (private data): the quantized float delta, shuffled by the round's seed."""
        from app.ml.federated import compute_local_update

        seed = compute_train_seed(self.task.id, round_, worker)
        m, start = self.task.model, decode_global_weights(self.task, weights)
        config = self._config(seed)
        update_q, count = compute_local_update(m.arch, start, x, y, config, m.input_shape, on_step)
        return TrainedUpdate(UPDATE_FORMAT.encode(update_q), int(count))

    def _train_traced(
        self,
        weights: bytes,
        round_: int,
        worker: str,
        x: NDArray[np.float32],
        y: NDArray[np.int64],
        on_step: StepCallback | None,
    ) -> TrainedUpdate:
        """Training with a trace (public data): checkpoints every task.trace.every_steps steps."""
        from app.ml.trace import TraceError, trace_rule, train_with_trace

        rule = trace_rule(self.task, round_, decode_address(worker))
        try:
            traced = train_with_trace(rule, decode_global_weights(self.task, weights), x, y, on_step)
        except TraceError as e:
            raise TrainingError(f"round {round_}: {e}") from None
        return TrainedUpdate(
            UPDATE_FORMAT.encode(traced.update), traced.num_samples, traced.trace, self.data_spec
        )
