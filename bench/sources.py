"""Benchmark the data sources (app/ml/sources): how fast each kind of file loads, checks included.

Run from the repository root: `python -m bench.sources [--rows 1000000] [--cols 100] [--smoke]`.
A CSV of ROWS x COLS random features plus a label column is written once, then read by
`read_source` (pyarrow, every column checked) side by side with the standard library's `csv` module
(the hand-written parser it replaces, timed on a tenth of the rows and scaled), and the same table as
Parquet and .npz; an image folder of 2,000 28x28 PNGs is read too. Prints a table and writes
bench/results/sources.json (--smoke: sources-smoke.json, a few seconds).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from PIL import Image

from app.ml.sources import read_source
from bench.common import print_table, write_results

__all__ = ["main"]

IMAGES, IMAGE_SIDE = 2_000, 28


def _table(rows: int, cols: int) -> pa.Table:
    """Random float features and an integer label 0..9 (seeded: every run writes the same file)."""
    rng = np.random.default_rng(0)
    columns = {f"f{i}": rng.standard_normal(rows, dtype=np.float32) for i in range(cols)}
    columns["label"] = rng.integers(0, 10, rows)
    return pa.table(columns)


def _timed(read: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = read()
    return time.perf_counter() - start, out


def _stdlib_csv(path: Path, rows: int) -> np.ndarray:
    """The baseline: csv.reader and float() per cell, on the first `rows` rows."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        out = [[float(v) for v in row[:-1]] for _, row in zip(range(rows), reader, strict=False)]
    return np.asarray(out, dtype=np.float32)


def _images(root: Path, count: int) -> None:
    rng = np.random.default_rng(1)
    for i in range(count):
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
        Image.fromarray(pixels, "L").save(folder / f"{i}.png")


def main() -> None:
    """Write the files, time every reader, print the table and write the results."""
    p = argparse.ArgumentParser(prog="python -m bench.sources", description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--cols", type=int, default=100)
    p.add_argument("--smoke", action="store_true", help="20,000 rows and 200 images, for CI")
    args = p.parse_args()
    rows, cols, images = (20_000, 100, 200) if args.smoke else (args.rows, args.cols, IMAGES)
    with tempfile.TemporaryDirectory(prefix="synod-bench-sources-") as scratch:
        root = Path(scratch)
        table = _table(rows, cols)
        pacsv.write_csv(table, root / "data.csv")
        pq.write_table(table, root / "data.parquet")
        x = np.column_stack([table.column(f"f{i}").to_numpy() for i in range(cols)])
        np.savez(root / "data.npz", x=x, y=table.column("label").to_numpy())
        _images(root / "images", images)
        size_mb = (root / "data.csv").stat().st_size / 1e6
        results: dict[str, float] = {}
        for kind, path in (("csv", "data.csv"), ("parquet", "data.parquet"), ("npz", "data.npz")):
            seconds, loaded = _timed(lambda p=path: read_source(str(root / p)))
            assert loaded.x.shape == (rows, cols)
            results[kind] = seconds
        sample = max(rows // 10, 1)
        stdlib_s, sampled = _timed(lambda: _stdlib_csv(root / "data.csv", sample))
        assert sampled.shape == (sample, cols)
        results["stdlib_csv_scaled"] = stdlib_s * rows / sample
        results["images"], folder = _timed(lambda: read_source(str(root / "images")))
        assert folder.x.shape == (images, IMAGE_SIDE, IMAGE_SIDE)
    cells, shape, csv_size = rows * cols, f"{rows:,} x {cols}", f"{size_mb:,.0f} MB"

    def rate(kind: str) -> str:
        return f"{cells / results[kind] / 1e6:,.1f}"

    table_rows = [
        ["CSV, read_source (pyarrow, checked)", shape, csv_size, round(results["csv"], 2), rate("csv")],
        ["CSV, stdlib csv + float (scaled from a tenth)", shape, csv_size,
         round(results["stdlib_csv_scaled"], 2), rate("stdlib_csv_scaled")],
        ["Parquet, read_source", shape, "", round(results["parquet"], 2), rate("parquet")],
        [".npz, read_source", shape, "", round(results["npz"], 2), rate("npz")],
        ["image folder, read_source (Pillow)", f"{images:,} PNGs {IMAGE_SIDE}x{IMAGE_SIDE}", "",
         round(results["images"], 2), f"{images / results['images']:,.0f} images/s"],
    ]  # fmt: skip
    columns = ["source", "rows", "file", "seconds", "M cells/s"]
    print_table("Data sources: loading speed (every check included)", columns, table_rows)
    path = write_results(
        "sources-smoke" if args.smoke else "sources",
        {
            "rows": rows,
            "cols": cols,
            "csv_mb": round(size_mb, 1),
            **{f"{k}_seconds": round(v, 3) for k, v in results.items()},
            "csv_speed_ratio_ours_over_stdlib": round(results["stdlib_csv_scaled"] / results["csv"], 1),
            "table": {"columns": columns, "rows": table_rows},
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
