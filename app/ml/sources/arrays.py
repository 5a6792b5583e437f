"""NumPy files: an .npz with arrays x and y, or an .npy of features with its labels in another .npy."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat
from numpy.typing import NDArray

from app.ml.sources.base import SourceError, check_cells, check_finite

__all__ = ["read_npy", "read_npz"]


def _check_header(handle, path: object) -> None:  # noqa: ANN001
    """Read an array header and refuse a huge shape or an object array before the data is read."""
    try:
        version = npformat.read_magic(handle)
        read = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        shape, _, dtype = read(handle)
    except ValueError as e:
        raise SourceError(f"{path}: not a NumPy array file ({e})") from None
    if dtype.hasobject:
        raise SourceError(f"{path}: holds Python objects (pickles are never loaded): save plain numbers")
    check_cells(shape, path)


def _features(x: NDArray, path: object) -> NDArray[np.float32]:
    """Rows of numeric features as float32, finite."""
    if x.ndim < 2 or not np.issubdtype(x.dtype, np.number):
        raise SourceError(
            f"{path}: features must be numbers with one row per sample, got {x.dtype} {x.shape}"
        )
    out = x.astype(np.float32)
    check_finite(out.reshape(len(out), -1), path)
    return out


def _load_npy(path: Path) -> NDArray:
    """One .npy, its header checked before its data is read."""
    try:
        with path.open("rb") as handle:
            _check_header(handle, path)
        return np.load(path, allow_pickle=False)
    except OSError as e:
        raise SourceError(f"{path}: not readable ({e})") from None


def read_npy(path: Path, labels: str | None) -> tuple[NDArray[np.float32], NDArray]:
    """Features from path and labels from the .npy named by label=PATH (resolved beside path)."""
    if not labels:
        raise SourceError(f"{path}: an .npy holds features only: name the labels' .npy with label=FILE.npy")
    label_path = path.parent / labels
    x, y = _load_npy(path), _load_npy(label_path)
    if len(x) != len(y):
        raise SourceError(f"{path} has {len(x)} rows but {label_path} has {len(y)} labels")
    return _features(x, path), y


def read_npz(path: Path) -> tuple[NDArray[np.float32], NDArray]:
    """Arrays x (rows of features) and y (one label per row) of an .npz, headers checked first."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if not {"x.npy", "y.npy"} <= names:
                raise SourceError(
                    f"{path}: needs arrays 'x' and 'y', has {sorted(n.removesuffix('.npy') for n in names)}"
                )
            for name in ("x.npy", "y.npy"):
                with archive.open(name) as handle:
                    _check_header(handle, f"{path}[{name.removesuffix('.npy')}]")
        with np.load(path, allow_pickle=False) as data:
            x, y = data["x"], data["y"]
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise SourceError(f"{path}: not a readable .npz file ({e})") from None
    if len(x) != len(y):
        raise SourceError(f"{path}: x has {len(x)} rows but y has {len(y)} labels")
    return _features(x, path), y
