"""The configuration every arm of the FL bench shares, the data it derives, and an arm's result.

This module is also imported inside the Flower virtualenv, so it needs only numpy, JAX and
scikit-learn (through app.ml), never rich or the chain's runtime packages.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import train_test_split

from app.ml.datasets import Dataset, DataSpec, Shard, load_dataset, load_shard, split_dirichlet
from app.ml.models import flatten, init_params, param_count
from app.ml.quantize import WEIGHT_SPEC, quantize
from app.ml.sources import is_file_source, read_source
from app.ml.train import TrainConfig

__all__ = ["PROGRESS", "ArmResult", "FLConfig", "FLData", "load_folder_dataset"]

# Prefix of the lines by which the Flower process reports a finished round: "<prefix><round> <accuracy %>".
PROGRESS = "SYNOD-FL-ROUND "


@dataclass(frozen=True)
class FLConfig:
    """One federated experiment: data, model, workers, rounds and local training, identical in every arm."""

    dataset: str = "digits"  # a package dataset, or an image folder (bench/fl/images.py makes one)
    arch: str = "logreg"
    input_shape: tuple[int, ...] = ()  # the task's ModelSpec.input_shape; empty: (n_features,)
    workers: int = 8
    alpha: float = 0.5  # Dirichlet label skew across workers; smaller is more skewed
    rounds: int = 20
    local_epochs: int = 1
    batch_size: int = 32
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    seed: int = 0

    def train_config(self) -> TrainConfig:
        """Return the local training hyperparameters (the per-round shuffle seed is derived from seed)."""
        return TrainConfig(self.optimizer, self.learning_rate, self.batch_size, self.local_epochs, self.seed)

    def data_spec(self, worker: int) -> DataSpec:
        """Return worker's data spec: its Dirichlet shard of the training rows of the seed's split."""
        return DataSpec(self.dataset, worker, self.workers, self.alpha, self.seed, self.seed)

    def to_json(self) -> str:
        """Return the config as JSON, the form it crosses into the Flower process in."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FLConfig:
        """Return the config that to_json wrote."""
        fields = json.loads(text)
        return cls(**{**fields, "input_shape": tuple(fields.get("input_shape", ()))})


def load_folder_dataset(path: str, seed: int, test_fraction: float = 0.2) -> Dataset:
    """Return an image folder read through app.ml.sources, split by seed (stratified) into train and test.

    Pixels stay in [0, 1] as the reader gives them (a file source is not standardized); no validation rows.
    """
    table = read_source(path)
    rows = np.arange(len(table.y))
    train, test = train_test_split(rows, test_size=test_fraction, random_state=seed, stratify=table.y)
    x, y = table.x.reshape(len(rows), -1), table.y
    empty = np.zeros((0, x.shape[1]), np.float32)
    return Dataset(path, x[train], y[train], empty, y[:0], x[test], y[test], table.n_classes)


@dataclass(frozen=True, eq=False)
class FLData:
    """What every arm trains and is evaluated on, derived from the config alone."""

    config: FLConfig

    @cached_property
    def dataset(self) -> Dataset:
        """Return the split dataset (test rows are never in any shard)."""
        if is_file_source(self.config.dataset):
            return load_folder_dataset(self.config.dataset, self.config.seed)
        return load_dataset(self.config.dataset, seed=self.config.seed)

    @cached_property
    def shards(self) -> list[Shard]:
        """Return each worker's shard, loaded through its data spec as a chain worker would.

        An image folder's shards are Dirichlet parts of its training rows only, so that its test
        rows (which a chain worker's file spec would include) stay out of every shard.
        """
        config = self.config
        if not is_file_source(config.dataset):
            return [load_shard(config.data_spec(i)) for i in range(config.workers)]
        data = self.dataset
        parts = split_dirichlet(data.y_train, config.workers, config.alpha, config.seed)
        return [Shard(data.x_train[rows], data.y_train[rows], data.n_classes) for rows in parts]

    @cached_property
    def initial_weights_q(self) -> NDArray[np.int64]:
        """Return the Glorot start from config.seed in the chain's int32 weight format."""
        data = self.dataset
        config = self.config
        params = init_params(config.arch, data.n_features, data.n_classes, config.seed, config.input_shape)
        return quantize(flatten(params), WEIGHT_SPEC)

    @property
    def param_count(self) -> int:
        """Return the length of the flat parameter vector."""
        data = self.dataset
        return param_count(self.config.arch, data.n_features, data.n_classes, self.config.input_shape)


@dataclass
class ArmResult:
    """One arm's outcome; accuracy is None when the arm did not run, and note then says why."""

    name: str
    accuracy_pct: float | None = None
    total_seconds: float | None = None
    startup_seconds: float | None = None
    accuracy_pct_per_round: list[float] = field(default_factory=list)
    round_seconds: list[float] = field(default_factory=list)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # arm-specific figures for the results file

    @property
    def first_round_seconds(self) -> float | None:
        """Return the first round's wall time, which includes JIT compilation (and actor start-up)."""
        return self.round_seconds[0] if self.round_seconds else None

    @property
    def seconds_per_round(self) -> float | None:
        """Return the mean wall time of the rounds after the first (the steady state)."""
        steady = self.round_seconds[1:] or self.round_seconds
        return sum(steady) / len(steady) if steady else None
