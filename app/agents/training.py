"""The worker's local training: its private shard, the task's hyperparameters, a seed per round.

JAX and scikit-learn are imported on first use: a worker restarted in a reveal phase only needs
its saved update, and should reveal within seconds instead of first spending them on imports.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from app.core.architectures import param_count
from app.core.crypto import decode_address
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT
from synod.tasks.v1 import tasks_pb2

__all__ = ["LocalTrainer", "TrainedUpdate", "Trainer", "TrainingError", "compute_train_seed"]

_SEED_DOMAIN = b"synod/worker/train-seed/v1"


class TrainingError(Exception):
    """The worker's data does not fit the task, or training diverged."""


def compute_train_seed(task_id: int, round_: int, worker: str) -> int:
    """The shuffle seed of one worker's round: SHA-256 of (domain, task, round, address), 32 bits."""
    digest = hashlib.sha256(_SEED_DOMAIN)
    digest.update(task_id.to_bytes(8, "big") + round_.to_bytes(4, "big") + decode_address(worker))
    return int.from_bytes(digest.digest()[:4], "big")


@dataclass(frozen=True)
class TrainedUpdate:
    """One round's encoded update and the samples it was trained on."""

    update: bytes
    num_samples: int


class Trainer(Protocol):
    """What the worker needs from local training (LocalTrainer; tests substitute their own)."""

    @property
    def samples(self) -> int:
        """Rows of private training data."""
        ...

    def warm_up(self, initial_weights: bytes) -> None:
        """Prepare so that train is quick."""

    def train(self, weights: bytes, round_: int, seed: int) -> TrainedUpdate:
        """One round's update from the global weights."""
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

    def _load(self) -> Any:
        """The shard, checked against the task's dataset and model shape."""
        if self._shard is None:
            from app.ml.datasets import DatasetError, load_shard, parse_data_spec

            try:
                spec = parse_data_spec(self.data_spec)
                shard = load_shard(spec)
            except DatasetError as e:
                raise TrainingError(str(e)) from None
            model = self.task.model
            if spec.dataset != self.task.data.dataset or (shard.x.shape[1], shard.n_classes) != (
                model.n_features,
                model.n_classes,
            ):
                raise TrainingError(
                    f"data {self.data_spec!r} ({spec.dataset}, {shard.x.shape[1]} features, "
                    f"{shard.n_classes} classes) does not fit task {self.task.id} "
                    f"({self.task.data.dataset}, {model.n_features} features, {model.n_classes} classes)"
                )
            self._shard = shard
        return self._shard

    def _config(self, seed: int) -> Any:
        """The task's hyperparameters as a TrainConfig (learning rate from millionths)."""
        from app.ml.train import TrainConfig

        h = self.task.hyper
        return TrainConfig(h.optimizer, h.learning_rate_ppm / 1e6, h.batch_size, h.local_epochs, seed)

    def _weights(self, payload: bytes) -> NDArray[np.int64]:
        """The global model's int32 fixed-point vector."""
        m = self.task.model
        return WEIGHT_FORMAT.decode(payload, param_count(m.arch, m.n_features, m.n_classes))

    def warm_up(self, initial_weights: bytes) -> None:
        """Load the shard and compile the training step once, so a round's training is quick."""
        self.train(initial_weights, 0, seed=0)

    def train(self, weights: bytes, round_: int, seed: int) -> TrainedUpdate:
        """Train from the global weights; return the UPDATE_FORMAT bytes of (new - global)."""
        from app.ml.federated import compute_local_update
        from app.ml.quantize import QuantizationError

        shard = self._load()
        try:
            update_q, count = compute_local_update(
                self.task.model.arch, self._weights(weights), shard.x, shard.y, self._config(seed)
            )
        except QuantizationError as e:
            raise TrainingError(f"round {round_}: {e}") from None
        return TrainedUpdate(UPDATE_FORMAT.encode(update_q), int(count))
