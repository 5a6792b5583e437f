"""`python -m bench.worstcase --smoke` runs every case (so the benchmark cannot rot), and each case
built the block it claims: valid txs succeeded, junk failed, an over-budget block was rejected."""

from __future__ import annotations

from bench.worstcase.cases import CASES
from tests.bench_smoke import run_smoke


def test_the_worst_case_smoke_run_times_every_case() -> None:
    figures, stdout = run_smoke("bench.worstcase", "worstcase-smoke", timeout=120)
    cases = figures["cases"]
    assert sorted(cases) == sorted(c.name for c in CASES)
    for name, case in cases.items():
        assert case["seconds"] and all(s > 0 for s in case["seconds"].values()), name
        assert set(case["cpu_seconds"]) == set(case["seconds"]), name
    assert cases["tiny junk txs"]["accepted"] is False and "finalize" not in cases["tiny junk txs"]["seconds"]
    assert cases["valid sends"]["accepted"] is True and "commit" in cases["valid sends"]["seconds"]
    assert {"prepare", "process", "finalize", "verify_extension"} <= set(
        cases["beacon at max validators"]["seconds"]
    )
    assert "Worst-case blocks" in stdout
