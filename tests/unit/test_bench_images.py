"""`python -m bench.fl.images --smoke` runs (so the CNN-vs-MLP benchmark cannot rot) and fills its table."""

from __future__ import annotations

from tests.bench_smoke import run_smoke


def test_the_image_benchmark_smoke_run_trains_both_models_on_both_workloads() -> None:
    figures, stdout = run_smoke("bench.fl.images", "fl-images-smoke", timeout=300)
    for workload in ("digits_8x8", "shifted_digits"):
        for model in ("mlp", "cnn"):
            for arm in ("centralized", "inprocess"):
                assert 0 < figures[f"{workload}_{model}_{arm}_accuracy_pct"] <= 100, (workload, model, arm)
        assert f"{workload}_inprocess_gain_cnn_over_mlp_points" in figures
    assert figures["settings"]["cnn_layout"][0] == "layer0.kernel (3, 3, 1, 16)"
    assert "CNN vs MLP on images" in stdout and "shifted digits" in stdout
