"""`synod demo --data FILE`: the user's own file split into the owner's evaluation rows and the workers' pool.

The file is read once through the data sources (app/ml/sources), so a malformed one is refused with
the reader's message before any node starts. A seeded, stratified fifth of its rows (at most
_MAX_EVAL_ROWS) becomes the task's public evaluation data; the rest is the pool the workers' Dirichlet
shards partition. Both are written as .npz files with the labels as names, so the task's label list
maps them the same way for everyone. A model suited to the data is chosen unless one is named: an MLP
over standardized features for tables, over raw pixels in [0, 1] for images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.demo.chain import DemoError
from app.ml.datasets import DatasetError, parse_data_spec

__all__ = ["OwnData", "prepare_own_data"]

_EVAL_FRACTION = 0.2
_MAX_EVAL_ROWS = 5000
TABULAR_ARCH = "mlp:32"
IMAGE_ARCH = "mlp:64"


@dataclass(frozen=True)
class OwnData:
    """The split files and what the task spec needs to know about them."""

    source: Path
    train: Path
    eval: Path
    rows: int
    held_out: int
    features: int
    label_names: tuple[str, ...]
    image: bool

    @property
    def name(self) -> str:
        """The task's dataset name: the file's stem."""
        return (self.source.stem or self.source.name)[:64] or "data"

    def spec_overrides(self, arch: str | None) -> dict[str, Any]:
        """The task spec fields for this data (merged over the demo's own)."""
        chosen = arch or (IMAGE_ARCH if self.image else TABULAR_ARCH)
        return {
            "dataset": self.name,
            "description": f"{self.name}: {chosen} over your own data, FedAvg over non-IID workers",
            "model": {"arch": chosen, "init_seed": 0},
            "data": {
                "eval": str(self.eval),
                "labels": list(self.label_names),
                "standardize": not self.image,
                "stats": None if self.image else str(self.train),
            },
        }


def _stratified_eval_rows(y: np.ndarray, seed: int) -> np.ndarray:
    """A seeded fifth of each class's rows (at least one of each class with two or more rows)."""
    rng = np.random.default_rng(seed)
    cap = _MAX_EVAL_ROWS / len(y)
    picked = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        take = max(1, int(len(members) * min(_EVAL_FRACTION, cap))) if len(members) > 1 else 0
        picked.append(members[:take])
    return np.sort(np.concatenate(picked))


def prepare_own_data(path: Path, label: str | None, directory: Path, seed: int, workers: int) -> OwnData:
    """Read path (DemoError naming what is wrong), split it, and write train.npz and eval.npz."""
    from app.ml.sources import read_source

    try:
        spec = parse_data_spec(str(path))
        if spec.path is None:
            raise DatasetError(f"{path} is not a file or image folder (a package dataset needs no --data)")
        table = read_source(str(path), label)
    except DatasetError as e:
        raise DemoError(f"--data: {e}") from None
    if table.n_classes < 2:
        raise DemoError(f"--data: {path} has one class only: a classifier needs two")
    names = np.asarray(table.label_names)[table.y]
    held_out = _stratified_eval_rows(table.y, seed)
    pool = np.setdiff1d(np.arange(len(table.y)), held_out)
    if len(pool) < 2 * workers:
        raise DemoError(
            f"--data: {path} has {len(table.y)} rows; {len(pool)} left after the evaluation rows are too few "
            f"for {workers} workers"
        )
    x = table.x.reshape(len(table.x), -1)
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for part, rows in (("train", pool), ("eval", held_out)):
        files[part] = directory / f"{part}.npz"
        np.savez(files[part], x=x[rows], y=names[rows])
    return OwnData(
        path,
        files["train"],
        files["eval"],
        len(table.y),
        len(held_out),
        x.shape[1],
        table.label_names,
        table.x.ndim == 3,
    )
