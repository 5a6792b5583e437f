"""`python -m bench.fl.images --smoke` runs (so the CNN-vs-MLP benchmark cannot rot) and fills its table."""

from __future__ import annotations

import json
import subprocess
import sys

from app.node.toolchain import REPO_ROOT
from bench.common import RESULTS_DIR


def test_the_image_benchmark_smoke_run_trains_both_models_on_both_workloads() -> None:
    path = RESULTS_DIR / "fl-images-smoke.json"
    path.unlink(missing_ok=True)
    run = subprocess.run(
        [sys.executable, "-m", "bench.fl.images", "--smoke"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(path.read_text())
    for workload in ("digits_8x8", "shifted_digits"):
        for model in ("mlp", "cnn"):
            for arm in ("centralized", "inprocess"):
                assert 0 < figures[f"{workload}_{model}_{arm}_accuracy_pct"] <= 100, (workload, model, arm)
        assert f"{workload}_inprocess_gain_cnn_over_mlp_points" in figures
    assert figures["settings"]["cnn_layout"][0] == "layer0.kernel (3, 3, 1, 16)"
    assert "CNN vs MLP on images" in run.stdout and "shifted digits" in run.stdout
