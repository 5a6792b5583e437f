"""Datasets that ship inside scikit-learn, a seeded train/validation/test split, and worker shards.

Every worker and committee member derives the same split from the same seed, so the validation and
test rows are never inside any worker's shard: shards partition the training rows only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split

if TYPE_CHECKING:
    from app.ml.schema import TaskSchema

__all__ = [
    "DATASETS",
    "DataSpec",
    "Dataset",
    "DatasetError",
    "Shard",
    "load_dataset",
    "load_shard",
    "parse_data_spec",
    "split_dirichlet",
    "split_iid",
]

DATASETS: dict[str, Callable[..., Any]] = {
    "breast_cancer": sk_datasets.load_breast_cancer,
    "digits": sk_datasets.load_digits,
    "wine": sk_datasets.load_wine,
}


class DatasetError(ValueError):
    """Raised for an unknown dataset, a malformed data spec, or a split that cannot be made."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A standardized dataset: float32 features, int64 labels 0..n_classes-1, three disjoint parts."""

    name: str
    x_train: NDArray[np.float32]
    y_train: NDArray[np.int64]
    x_val: NDArray[np.float32]
    y_val: NDArray[np.int64]
    x_test: NDArray[np.float32]
    y_test: NDArray[np.int64]
    n_classes: int

    @property
    def n_features(self) -> int:
        """Return the number of input features."""
        return int(self.x_train.shape[1])


@dataclass(frozen=True, eq=False)
class Shard:
    """One worker's private training rows."""

    x: NDArray[np.float32]
    y: NDArray[np.int64]
    n_classes: int


def load_dataset(name: str, seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.2) -> Dataset:
    """Return dataset name split by seed (stratified), standardized with training-set statistics."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}")
    features, raw_labels = DATASETS[name](return_X_y=True)
    labels = np.asarray(raw_labels, dtype=np.int64)
    rest_x, x_test, rest_y, y_test = train_test_split(
        features, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    x_train, x_val, y_train, y_val = train_test_split(
        rest_x, rest_y, test_size=val_fraction / (1 - test_fraction), random_state=seed, stratify=rest_y
    )
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0  # constant columns (blank digit pixels) stay zero instead of dividing by 0

    def scale(x: NDArray[np.float64]) -> NDArray[np.float32]:
        """Standardize x with the training-set mean and std."""
        scaled: NDArray[np.float32] = ((x - mean) / std).astype(np.float32)
        return scaled

    return Dataset(
        name, scale(x_train), y_train, scale(x_val), y_val, scale(x_test), y_test, int(labels.max()) + 1
    )


def _check_split(labels: NDArray[np.int64], n_workers: int) -> None:
    """Raise DatasetError unless every worker can get at least one sample."""
    if not 1 <= n_workers <= len(labels):
        raise DatasetError(
            f"n_workers must be between 1 and {len(labels)} (the sample count), got {n_workers}"
        )


def split_iid(labels: NDArray[np.int64], n_workers: int, seed: int) -> list[NDArray[np.int64]]:
    """Return n_workers sorted index arrays of near-equal size that partition range(len(labels))."""
    _check_split(labels, n_workers)
    order = np.random.default_rng(seed).permutation(len(labels))
    return [np.sort(part) for part in np.array_split(order, n_workers)]


def split_dirichlet(
    labels: NDArray[np.int64], n_workers: int, alpha: float, seed: int, min_samples: int = 8
) -> list[NDArray[np.int64]]:
    """Return a label-skewed partition: each class is split across workers by Dirichlet(alpha) shares.

    Smaller alpha means more skew. Workers left with fewer than min(min_samples, n // n_workers)
    samples then take random samples from the largest worker until they have that many.
    """
    _check_split(labels, n_workers)
    if not alpha > 0:
        raise DatasetError(f"dirichlet alpha must be positive, got {alpha}")
    rng = np.random.default_rng(seed)
    owners = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        shares = rng.dirichlet(np.full(n_workers, alpha))
        cuts = (np.cumsum(shares)[:-1] * len(members)).astype(np.int64)
        for worker, part in enumerate(np.split(members, cuts)):
            owners[part] = worker
    counts = np.bincount(owners, minlength=n_workers)
    floor = min(min_samples, len(labels) // n_workers)
    for worker in range(n_workers):
        while counts[worker] < floor:
            donor = int(np.argmax(counts))
            candidates = np.flatnonzero(owners == donor)
            owners[candidates[rng.integers(len(candidates))]] = worker
            counts[donor] -= 1
            counts[worker] += 1
    return [np.flatnonzero(owners == worker) for worker in range(n_workers)]


@dataclass(frozen=True)
class DataSpec:
    """A parsed data spec; see parse_data_spec for the grammar."""

    dataset: str
    shard: int = 0
    shards: int = 1
    alpha: float | None = None
    seed: int = 0
    split: int = 0
    # A file or folder the caller holds (app/ml/sources), and its reading options.
    path: str | None = None
    label: str | None = None
    size: tuple[int, int] | None = None
    labels: tuple[str, ...] | None = None


_SHARD = re.compile(r"(\d+)/(\d+)")
_INT = re.compile(r"\d+")
_SIZE = re.compile(r"([1-9]\d{0,3})x([1-9]\d{0,3})")


def _is_positive_float(value: str) -> bool:
    """Return whether value parses as a finite float above zero."""
    try:
        return 0 < float(value) < float("inf")
    except ValueError:
        return False


def _parse_option(option: str, text: str) -> dict[str, Any]:
    """Return the DataSpec fields that one option of data spec text sets."""
    key, sep, value = option.partition("=")
    if key == "iid" and not sep:
        return {"alpha": None}
    if key == "shard" and (match := _SHARD.fullmatch(value)):
        return {"shard": int(match[1]), "shards": int(match[2])}
    if key == "dirichlet" and _is_positive_float(value):
        return {"alpha": float(value)}
    if key in ("seed", "split") and _INT.fullmatch(value):
        return {key: int(value)}
    if key == "label" and value:
        return {"label": value}
    if key == "labels" and value and all(value.split(",")):
        return {"labels": tuple(value.split(","))}
    if key == "size" and (match := _SIZE.fullmatch(value)):
        return {"size": (int(match[1]), int(match[2]))}
    raise DatasetError(
        f"bad option {option!r} in data spec {text!r}; expected shard=I/N, iid, "
        "dirichlet=ALPHA (ALPHA > 0), seed=INT, split=INT, or for a file label=COLUMN, labels=A,B,... "
        "and size=WxH"
    )


def parse_data_spec(text: str) -> DataSpec:
    """Parse a data spec string.

    Grammar: ``NAME(:OPTION)*`` where NAME is a dataset in DATASETS and OPTION is one of
    ``shard=I/N`` (this worker's 0-based shard I of N; default 0/1, the whole training set),
    ``iid`` (the default) or ``dirichlet=ALPHA`` (label skew, ALPHA > 0; smaller is more skewed),
    ``seed=S`` (partition seed, default 0) and ``split=K`` (train/validation/test split seed,
    default 0). Each option appears at most once. Example: ``digits:shard=3/8:dirichlet=0.5:seed=1``.
    """
    from app.ml.sources import is_file_source

    name, *options = text.strip().split(":")
    if name in DATASETS:
        spec = DataSpec(name)
    elif is_file_source(name):
        spec = DataSpec(name, path=name)
    else:
        raise DatasetError(
            f"unknown dataset {name!r} in data spec {text!r}; choose one of {', '.join(sorted(DATASETS))}, "
            "or name a file (./data.csv, x.npz, rows.parquet) or an image folder (./images/)"
        )
    seen: set[str] = set()
    for option in options:
        fields = _parse_option(option, text)
        if seen & fields.keys():
            raise DatasetError(f"option {option!r} repeats an earlier one in data spec {text!r}")
        seen |= fields.keys()
        spec = replace(spec, **fields)
    if not 0 <= spec.shard < spec.shards:
        raise DatasetError(f"shard={spec.shard}/{spec.shards} in {text!r} needs 0 <= I < N")
    if spec.path is None and {"label", "labels", "size"} & seen:
        raise DatasetError(f"label=, labels= and size= read files; {name!r} in {text!r} is a package dataset")
    return spec


def load_shard(spec: DataSpec | str, schema: TaskSchema | None = None) -> Shard:
    """Return the worker's private shard of the training rows that spec names.

    With a task's schema, the rows must fit it (SchemaError otherwise): a file is read with the
    task's label column and label names, its columns put in the task's order and standardized.
    """
    parsed = parse_data_spec(spec) if isinstance(spec, str) else spec
    if parsed.path is not None:
        x, y, n_classes = _read_file(parsed, schema)
    else:
        data = load_dataset(parsed.dataset, seed=parsed.split)
        x, y, n_classes = data.x_train, data.y_train, data.n_classes
        if schema is not None:
            x, y = schema.fit(x, y, parsed.dataset)
    if parsed.alpha is None:
        parts = split_iid(y, parsed.shards, parsed.seed)
    else:
        parts = split_dirichlet(y, parsed.shards, parsed.alpha, parsed.seed)
    rows = parts[parsed.shard]
    return Shard(x[rows], y[rows], n_classes)


def _read_file(
    spec: DataSpec, schema: TaskSchema | None
) -> tuple[NDArray[np.float32], NDArray[np.int64], int]:
    """A file source's rows as flat features (the models take vectors), labels and class count.

    Without a schema the features are used as they are, and named labels need labels=... (or two
    parties holding different classes would number them differently). With one, the file is read
    as the task says: label=/labels= may only restate it.
    """
    from app.ml.sources import read_source

    assert spec.path is not None
    column, names = spec.label, spec.labels
    if schema is not None:
        if names is not None and schema.labels is not None and names != schema.labels:
            raise DatasetError(
                f"labels={','.join(names)} in the data spec, but the task names its classes "
                f"{','.join(schema.labels)}: drop labels= to use the task's"
            )
        column, names = column or schema.column, names or schema.labels
    table = read_source(spec.path, column, spec.size, names)
    if not table.names_given:
        raise DatasetError(
            f"{spec.path}: its labels are names ({', '.join(table.label_names[:5])}...): give the task's "
            "label list in order, e.g. labels=benign,malignant, so every party numbers them alike"
        )
    if schema is None:
        return table.x.reshape(len(table.x), -1), table.y, table.n_classes
    x, y = schema.fit(table.x, table.y, spec.path, table.feature_names)
    return x, y, schema.n_classes
