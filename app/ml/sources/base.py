"""What every reader shares: the error, the size cap, and label encoding."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from app.ml.datasets import DatasetError

__all__ = ["MAX_CELLS", "SourceError", "check_cells", "check_finite", "encode_labels"]

# Features read from one source at most (2^28 float32 cells = 1 GiB): a file declaring more is refused
# before anything is allocated.
MAX_CELLS = 1 << 28


class SourceError(DatasetError):
    """A data file is missing, malformed, too large, or does not fit what it must hold."""


def check_cells(shape: tuple[int, ...], path: object) -> None:
    """Refuse a shape larger than MAX_CELLS before reading or allocating it."""
    cells = 1
    for n in shape:
        cells *= int(n)
    if cells > MAX_CELLS:
        raise SourceError(f"{path}: declares {shape} = {cells:,} values, more than the {MAX_CELLS:,} allowed")


def check_finite(x: NDArray[np.float32], path: object, columns: list[str] | None = None) -> None:
    """Refuse NaN or infinite features, naming the first (row, column)."""
    bad = ~np.isfinite(x)
    if bad.any():
        row, *rest = (int(i) for i in np.argwhere(bad)[0])
        where = columns[rest[0]] if columns and rest else (rest[0] if rest else "?")
        raise SourceError(
            f"{path}: row {row}, column {where!r} is {x[tuple([row, *rest])]}: features must be finite"
        )


def encode_labels(
    raw: NDArray, path: object, names: tuple[str, ...] | None = None
) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    """Labels as class indexes, the same on every machine whatever rows it holds.

    With `names` (the task's label list) each label, written as its name, is that name's index: an
    unknown one is refused. Without, integer labels are their own index (0 or more) and names are
    sorted (only safe for data that one party splits itself).
    """
    if raw.ndim != 1:
        raise SourceError(f"{path}: labels must be one per row, got shape {raw.shape}")
    if np.issubdtype(raw.dtype, np.floating):
        whole = np.isfinite(raw) & (raw == np.round(raw))
        if not whole.all():
            raise SourceError(f"{path}: labels must be whole numbers or names, got {raw[~whole][0]!r}")
        raw = raw.astype(np.int64)
    integers = np.issubdtype(raw.dtype, np.integer)
    if names is not None:
        index = {name: i for i, name in enumerate(names)}
        text = raw.astype(str)
        unknown = [t for t in np.unique(text) if t not in index]
        if unknown:
            row = int(np.flatnonzero(text == unknown[0])[0])
            raise SourceError(
                f"{path}: row {row} has label {str(unknown[0])!r}, not one of the task's {list(names)}"
            )
        return np.asarray([index[t] for t in text], dtype=np.int64), names
    if integers:
        if raw.size and raw.min() < 0:
            raise SourceError(f"{path}: label {int(raw.min())} is negative: class indexes start at 0")
        top = int(raw.max()) + 1 if raw.size else 0
        return raw.astype(np.int64), tuple(str(i) for i in range(top))
    found, codes = np.unique(raw.astype(str), return_inverse=True)
    if found.size < 2:
        raise SourceError(f"{path}: every row has the label {found[0]!r}: a classifier needs two classes")
    return codes.astype(np.int64), tuple(str(n) for n in found)
