"""`synod demo --data FILE`: the user's own file split into the owner's evaluation rows and the workers' pool.

The file is read once through the data sources (app/ml/sources), so a malformed one is refused with
the reader's message before any node starts. A seeded, stratified fifth of its rows (at most
_MAX_EVAL_ROWS) becomes the task's public evaluation data; the rest is the pool the workers' Dirichlet
shards partition. Both are written as .npz files with the labels as names, so the task's label list
maps them the same way for everyone. A model suited to the data is chosen unless one is named: an MLP
over standardized features for tables; for images, over raw pixels in [0, 1], a CNN (image_cnn) with
the task's input_shape (height, width, 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.architectures import ArchitectureError, param_count
from app.demo.chain import DemoError
from app.ml.datasets import DatasetError, parse_data_spec

__all__ = ["OwnData", "image_cnn", "prepare_own_data"]

_EVAL_FRACTION = 0.2
_MAX_EVAL_ROWS = 5000
TABULAR_ARCH = "mlp:32"
_CNN_PARAM_BUDGET = 150_000  # a CNN that trains in seconds on 2 cores; its weights go in the post tx
_CNN_MAX_STAGES = 6


def _conv_stage(features: int) -> list[dict[str, Any]]:
    """One 3x3 convolution, a ReLU and a 2x2 max pooling that halves the image."""
    conv = {"type": "conv2d", "features": features, "kernel": [3, 3]}
    return [conv, {"type": "relu"}, {"type": "max_pool", "window": [2, 2]}]


def image_cnn(height: int, width: int, n_classes: int) -> str:
    """The demo's CNN for images of height x width, as the task's compact JSON layer list.

    Two conv stages (16 then 32 filters), one more of 32 for as long as the flattened features would
    put the model over _CNN_PARAM_BUDGET (large images), then dense 64 and the output layer: on the
    12x12 shifted digits it is bench/fl/images' CNN.
    """
    head = [{"type": "flatten"}, {"type": "dense", "features": 64}, {"type": "relu"}, {"type": "dense"}]
    layers = _conv_stage(16) + _conv_stage(32)
    while True:
        arch = json.dumps(layers + head, separators=(",", ":"))
        try:
            size = param_count(arch, height * width, n_classes, (height, width, 1))
        except ArchitectureError:  # pooled down to nothing: the previous stage was the last one
            size = None
        if size is None or size <= _CNN_PARAM_BUDGET or len(layers) >= 3 * _CNN_MAX_STAGES:
            if size is None or size > _CNN_PARAM_BUDGET:
                raise DemoError(
                    f"--data: no CNN of 2 to {_CNN_MAX_STAGES} conv stages suits {width}x{height} images "
                    f"in {_CNN_PARAM_BUDGET} parameters; name a smaller model with --arch"
                )
            return arch
        layers += _conv_stage(32)


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
    image_size: tuple[int, int] | None  # (height, width) of an image folder's pictures; None: a table

    @property
    def name(self) -> str:
        """The task's dataset name: the file's stem."""
        return (self.source.stem or self.source.name)[:64] or "data"

    def spec_overrides(self, arch: str | None) -> dict[str, Any]:
        """The task spec fields for this data (merged over the demo's own)."""
        image = self.image_size is not None
        if arch:
            chosen = arch
        elif self.image_size is not None:
            chosen = image_cnn(*self.image_size, len(self.label_names))
        else:
            chosen = TABULAR_ARCH
        layered = chosen.lstrip().startswith("[")
        # A layer list sees an image as (height, width, 1); the named MLPs see its pixels as one row.
        shape = [*self.image_size, 1] if self.image_size is not None and layered else []
        kind = "a CNN" if layered and '"conv' in chosen else "a layer list" if layered else chosen
        overrides: dict[str, Any] = {
            "dataset": self.name,
            "description": f"{self.name}: {kind} over your own data, FedAvg over non-IID workers",
            "model": {"arch": chosen, "init_seed": 0, "input_shape": shape},
            "data": {
                "eval": str(self.eval),
                "labels": list(self.label_names),
                "standardize": not image,
                "stats": None if image else str(self.train),
            },
        }
        if image:  # raw pixels: in 5 rounds SGD at 0.1 leaves the CNN near 30% on shifted digits, Adam ~80%
            overrides["hyper"] = {"optimizer": "adam", "learning_rate": 0.01}
        return overrides


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
    if len(np.unique(table.y)) < 2:
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
        (int(table.x.shape[1]), int(table.x.shape[2])) if table.x.ndim == 3 else None,
    )
