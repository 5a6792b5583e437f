"""CSV, TSV and Parquet through pyarrow: a named label column, every other column a numeric feature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from app.ml.sources.base import SourceError, check_cells, check_finite

__all__ = ["read_csv", "read_parquet"]


def read_csv(path: Path, delimiter: str, label: str) -> tuple[NDArray[np.float32], NDArray, tuple[str, ...]]:
    """Features, raw labels and feature column names of a delimited text file with a header row."""
    try:
        table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter))
    except (pa.ArrowInvalid, OSError) as e:
        raise SourceError(
            f"{path}: not a readable {'TSV' if delimiter == chr(9) else 'CSV'} file ({e})"
        ) from None
    return _split(table, label, path)


def read_parquet(path: Path, label: str) -> tuple[NDArray[np.float32], NDArray, tuple[str, ...]]:
    """Features, raw labels and feature names of a Parquet file (its size checked before reading)."""
    try:
        meta = pq.ParquetFile(path).metadata
        check_cells((meta.num_rows, meta.num_columns), path)
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise SourceError(f"{path}: not a readable Parquet file ({e})") from None
    return _split(table, label, path)


def _split(table: pa.Table, label: str, path: Path) -> tuple[NDArray[np.float32], NDArray, tuple[str, ...]]:
    """The other columns as a float32 matrix, each column checked, the label column, and the names."""
    if label not in table.column_names:
        raise SourceError(
            f"{path}: no label column {label!r} (columns: {', '.join(table.column_names[:20])}); "
            "name it with label=COLUMN"
        )
    if table.num_rows == 0:
        raise SourceError(f"{path} has no rows")
    features = [name for name in table.column_names if name != label]
    if not features:
        raise SourceError(f"{path}: only the label column {label!r}: there are no features")
    check_cells((table.num_rows, len(features)), path)
    labels = table.column(label)
    if labels.null_count:
        raise SourceError(f"{path}: label column {label!r} has {labels.null_count} empty cells")
    columns = []
    for name in features:
        column = table.column(name)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise SourceError(
                f"{path}: column {name!r} is {column.type}, not a number: features must be numeric"
            )
        if column.null_count:
            first = pc.index(pc.is_null(column), True).as_py()
            raise SourceError(
                f"{path}: row {first}, column {name!r} is empty or NaN: features must be numbers"
            )
        columns.append(column.to_numpy().astype(np.float32, copy=False))
    x = np.column_stack(columns)
    check_finite(x, path, features)
    return x, labels.to_numpy(zero_copy_only=False), tuple(features)
