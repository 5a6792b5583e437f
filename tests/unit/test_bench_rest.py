"""`python -m bench.rest --smoke` measures every transport at every concurrency (so the benchmark
cannot rot) and writes only its smoke results."""

from __future__ import annotations

from tests.bench_smoke import run_smoke


def test_the_rest_benchmark_smoke_run_measures_every_cell() -> None:
    figures, stdout = run_smoke("bench.rest", "rest-smoke", timeout=120)
    assert set(figures["cells"]) == {f"{t}/{n}" for t in ("grpc", "rest", "rest-verify") for n in (1, 16)}
    assert all(cell["requests"] > 0 and cell["rps"] > 0 for cell in figures["cells"].values())
    assert len(figures["table"]["rows"]) == 6 and "REST gateway vs gRPC" in stdout
