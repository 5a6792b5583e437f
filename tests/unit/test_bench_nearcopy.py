"""`python -m bench.nearcopy --smoke` runs (so the near-copy benchmark cannot rot) and fills its tables."""

from __future__ import annotations

from tests.bench_smoke import run_smoke


def test_the_nearcopy_benchmark_smoke_run_measures_honest_and_copied_cosines() -> None:
    figures, stdout = run_smoke("bench.nearcopy", "nearcopy-smoke", timeout=300)
    assert figures["settings"]["smoke"] is True
    for dataset in ("digits", "breast_cancer"):
        honest = figures["datasets"][dataset]
        assert -10_000 <= honest["same_round_max_bps"] <= 10_000
        copies = honest["copies_min_bps"]
        # More noise, lower cosine; an exact scaled copy is (almost: quantization) 10000.
        assert copies["noise=0.0:scale=2.0"] >= 9_990
        assert (
            copies["noise=0.01:scale=1.0"] >= copies["noise=0.1:scale=1.0"] >= copies["noise=0.5:scale=1.0"]
        )
    assert figures["near_copy_threshold_bps"] == 9_950
    assert len(figures["noise_table"]["rows"]) == 21 and "headline: honest max cosine" in stdout
