"""`python -m bench.sources --smoke` runs (so the loading benchmark cannot rot) and reads every kind."""

from __future__ import annotations

import json
import subprocess
import sys

from app.node.toolchain import REPO_ROOT
from bench.common import RESULTS_DIR


def test_the_sources_benchmark_smoke_run_reads_every_kind_of_file() -> None:
    path = RESULTS_DIR / "sources-smoke.json"
    path.unlink(missing_ok=True)
    run = subprocess.run(
        [sys.executable, "-m", "bench.sources", "--smoke"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(path.read_text())
    for kind in ("csv", "parquet", "npz", "images", "stdlib_csv_scaled"):
        assert figures[f"{kind}_seconds"] > 0, kind
    assert figures["rows"] == 20_000 and "Data sources: loading speed" in run.stdout
