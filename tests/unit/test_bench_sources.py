"""`python -m bench.sources --smoke` runs (so the loading benchmark cannot rot) and reads every kind."""

from __future__ import annotations

from tests.bench_smoke import run_smoke


def test_the_sources_benchmark_smoke_run_reads_every_kind_of_file() -> None:
    figures, stdout = run_smoke("bench.sources", "sources-smoke", timeout=300)
    for kind in ("csv", "parquet", "npz", "images", "stdlib_csv_scaled"):
        assert figures[f"{kind}_seconds"] > 0, kind
    assert figures["rows"] == 20_000 and "Data sources: loading speed" in stdout
