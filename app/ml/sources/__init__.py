"""Data sources: the files a worker, committee member or predictor holds, read into one table.

A source is named by the data spec grammar of app/ml/datasets.py: a package dataset (`digits`) or a
path, with options. Files are read by well-kept readers (pyarrow for CSV/TSV/Parquet, numpy for
.npy/.npz, Pillow for image folders), checked as they are read, and refused with a DatasetError that
names the column, shape, label or file that is wrong: a file that does not fit never trains a model.

| kind | path | options |
|---|---|---|
| CSV / TSV | `*.csv`, `*.tsv` | `label=COLUMN` (default `label`); every other column a numeric feature |
| Parquet | `*.parquet` | `label=COLUMN` |
| NumPy | `*.npz` with arrays `x` and `y`; `*.npy` of features | `.npy`: `label=FILE.npy` beside it |
| image folder | one subfolder per class of PNG/JPEG files | `size=WxH` (default: the first image's) |

Labels: with the task's label list (`labels=a,b,c`) each label is its name's index there, and an unknown
one is refused; without it integer labels are their own index, and names (strings) are sorted, which
is only consistent when one party splits the data itself (the demo). `DataTable.label_names` keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from app.ml.sources.arrays import read_npy, read_npz
from app.ml.sources.base import MAX_CELLS, SourceError, encode_labels
from app.ml.sources.images import read_image_folder
from app.ml.sources.tabular import read_csv, read_parquet

__all__ = ["MAX_CELLS", "DataTable", "SourceError", "is_file_source", "read_source"]


@dataclass(frozen=True, eq=False)
class DataTable:
    """Rows read from a file: float32 features (rows first), int64 labels 0..K-1, and label names."""

    x: NDArray[np.float32]
    y: NDArray[np.int64]
    label_names: tuple[str, ...]
    # False when names were sorted from the file's own labels (not consistent across parties).
    names_given: bool = True
    # The feature columns' names in x's column order (CSV/TSV/Parquet); None for unnamed features.
    feature_names: tuple[str, ...] | None = None

    @property
    def n_classes(self) -> int:
        return len(self.label_names)


_TABULAR = {".csv": ",", ".tsv": "\t"}


def is_file_source(name: str) -> bool:
    """True if a data spec names a file or folder rather than a package dataset."""
    return "/" in name or Path(name).suffix.lower() in (*_TABULAR, ".parquet", ".npy", ".npz")


def read_source(
    path: str,
    label: str | None = None,
    size: tuple[int, int] | None = None,
    labels: tuple[str, ...] | None = None,
) -> DataTable:
    """Read and check the file or folder at path (see the module docstring)."""
    source = Path(path)
    if not source.exists():
        raise SourceError(f"data source {path!r} does not exist")
    suffix = source.suffix.lower()
    columns: tuple[str, ...] | None = None
    if source.is_dir():
        x, raw = read_image_folder(source, size)
    elif suffix in _TABULAR:
        x, raw, columns = read_csv(source, _TABULAR[suffix], label or "label")
    elif suffix == ".parquet":
        x, raw, columns = read_parquet(source, label or "label")
    elif suffix == ".npy":
        x, raw = read_npy(source, label)
    elif suffix == ".npz":
        x, raw = read_npz(source)
    else:
        raise SourceError(
            f"{path!r}: unknown kind of data file {suffix!r}; use .csv, .tsv, .parquet, .npy, .npz or "
            "a folder of class subfolders"
        )
    if len(x) == 0:
        raise SourceError(f"{path!r} has no rows")
    y, names = encode_labels(raw, path, labels)
    given = labels is not None or np.issubdtype(raw.dtype, np.number)
    return DataTable(x, y, names, names_given=bool(given), feature_names=columns)
