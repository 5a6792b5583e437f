"""A task's data schema off chain: each party reads its own rows the way the task says, or refuses them.

The schema is on chain in every task (tasks.proto DataSchema, checked by the tasks module): feature
names or just their count (the model's n_features), label names in class order (or the count,
n_classes), the label column of tabular files, and an optional standardization whose statistics the
owner publishes as integers in 2^-16 units. Workers shard their files through it, committee members
and plotters evaluate through it, and a file that does not fit is refused with a SchemaError naming
the column, label or shape that is wrong. It never trains a silently wrong model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

from app.ml.datasets import DatasetError
from synod.tasks.v1 import tasks_pb2, tx_pb2

__all__ = ["STAT_SCALE", "SchemaError", "TaskSchema", "compute_standardization"]

# Standardization statistics are published on chain as integers: value * 2^16, rounded.
STAT_SCALE = 1 << 16
DEFAULT_LABEL_COLUMN = "label"


class SchemaError(DatasetError):
    """A party's rows do not fit the task's schema; the message names what is wrong."""


def compute_standardization(x: NDArray[np.floating]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The per-feature mean and standard deviation of rows x, in 2^-16 units (a constant column: 1.0)."""
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    mean = np.round(flat.mean(axis=0) * STAT_SCALE).astype(np.int64)
    std = flat.std(axis=0)
    std[std == 0] = 1.0  # constant columns stay at zero instead of dividing by 0
    scale = np.maximum(1, np.round(std * STAT_SCALE)).astype(np.int64)
    return tuple(int(v) for v in mean), tuple(int(v) for v in scale)


@dataclass(frozen=True)
class TaskSchema:
    """What a task's rows look like; see the module docstring."""

    n_features: int
    n_classes: int
    feature_names: tuple[str, ...] = ()
    label_names: tuple[str, ...] = ()
    label_column: str = ""
    mean: tuple[int, ...] = ()  # 2^-16 units, one per feature; empty: no standardization
    scale: tuple[int, ...] = ()

    @classmethod
    def from_task(cls, task: tasks_pb2.Task | tx_pb2.MsgPostTask) -> TaskSchema:
        """The schema a task (or a post message) carries."""
        s = task.data.schema
        return cls(
            int(task.model.n_features),
            int(task.model.n_classes),
            tuple(s.feature_names),
            tuple(s.label_names),
            s.label_column,
            tuple(s.standardization.mean),
            tuple(s.standardization.scale),
        )

    def to_json(self) -> str:
        """The schema as compact JSON text (a fit config's "schema": Flower configs hold scalars)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TaskSchema:
        """The schema to_json wrote; SchemaError if text is not one."""
        try:
            raw = json.loads(text)
            schema = cls(
                int(raw["n_features"]),
                int(raw["n_classes"]),
                *(tuple(raw[key]) for key in ("feature_names", "label_names")),
                str(raw["label_column"]),
                *(tuple(int(v) for v in raw[key]) for key in ("mean", "scale")),
            )
        except (ValueError, TypeError, KeyError) as e:
            raise SchemaError(f"not a task schema ({type(e).__name__}: {e}): {text[:80]!r}") from None
        return schema

    def to_proto(self) -> tasks_pb2.DataSchema:
        """The on-chain form."""
        schema = tasks_pb2.DataSchema(
            feature_names=self.feature_names, label_names=self.label_names, label_column=self.label_column
        )
        if self.mean:
            schema.standardization.mean.extend(self.mean)
            schema.standardization.scale.extend(self.scale)
        return schema

    @property
    def column(self) -> str:
        """The label column tabular files must have."""
        return self.label_column or DEFAULT_LABEL_COLUMN

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The class names labels are read through, None when labels are class indexes."""
        return self.label_names or None

    def standardize(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """x transformed by the published statistics (unchanged without them)."""
        if not self.mean:
            return x
        mean = np.asarray(self.mean, dtype=np.float64) / STAT_SCALE
        scale = np.asarray(self.scale, dtype=np.float64) / STAT_SCALE
        out: NDArray[np.float32] = ((x - mean) / scale).astype(np.float32)
        return out

    def fit(
        self,
        x: NDArray[np.float32],
        y: NDArray[np.int64],
        where: object,
        columns: tuple[str, ...] | None = None,
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Rows read from `where` as model inputs (flat, in schema order, standardized) and labels.

        columns are the file's feature names when it has them (CSV/TSV/Parquet); with the schema's
        names, the file's columns are put in the schema's order, and a missing or extra one is refused.
        """
        if self.feature_names and columns is not None:
            x = self._reorder(x, columns, where)
        flat = x.reshape(len(x), -1)
        if flat.shape[1] != self.n_features:
            shape = "x".join(str(n) for n in x.shape[1:])
            raise SchemaError(
                f"{where}: rows have {flat.shape[1]} features ({shape}), the task's model takes "
                f"{self.n_features}"
            )
        if len(y) and int(y.max()) >= self.n_classes:
            row = int(np.argmax(y >= self.n_classes))
            raise SchemaError(
                f"{where}: row {row} has label {int(y[row])}, but the task has {self.n_classes} classes "
                f"(0-{self.n_classes - 1})"
            )
        return self.standardize(flat), y

    def _reorder(
        self, x: NDArray[np.float32], columns: tuple[str, ...], where: object
    ) -> NDArray[np.float32]:
        """The file's columns in the schema's feature order."""
        index = {name: i for i, name in enumerate(columns)}
        missing = [name for name in self.feature_names if name not in index]
        if missing:
            raise SchemaError(
                f"{where}: no column {missing[0]!r}, a feature of the task's schema "
                f"({len(missing)} missing of {len(self.feature_names)})"
            )
        extra = sorted(set(columns) - set(self.feature_names))
        if extra:
            raise SchemaError(
                f"{where}: column {extra[0]!r} is not a feature of the task's schema: drop it, or name "
                f"the label column (the task's is {self.column!r})"
            )
        if columns == self.feature_names:
            return x
        return x[:, [index[name] for name in self.feature_names]]
