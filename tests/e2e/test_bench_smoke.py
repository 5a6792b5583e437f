"""The benchmarks that run localnets, each in its --smoke mode, so none can rot unnoticed: their
figures land in bench/results/<name>-smoke.json, never over the committed ones."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.node.toolchain import REPO_ROOT
from bench.common import RESULTS_DIR

pytestmark = pytest.mark.e2e


def test_the_light_benchmark_smoke_run_measures_every_phase() -> None:
    path = RESULTS_DIR / "light-smoke.json"
    path.unlink(missing_ok=True)
    run = subprocess.run(
        [sys.executable, "-m", "bench.light", "--smoke"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(path.read_text())
    assert figures["checkpoint_parameters"] == 199_960
    for key in ("checkpoint_verified_over_unverified_ratio", "rounds_verified_over_unverified_ratio"):
        assert figures[key] > 0, (key, figures[key])  # both sides of the comparison ran
    assert figures["page1_per_s"] > 0 and figures["page1000_per_s"] > 0
    assert "Verified reads of learning state" in run.stdout and "page 1,000" in run.stdout


def test_the_throughput_benchmark_smoke_run_loads_both_networks() -> None:
    path = RESULTS_DIR / "throughput-smoke.json"
    path.unlink(missing_ok=True)
    run = subprocess.run(
        [sys.executable, "-m", "bench.throughput", "--smoke"], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(path.read_text())
    assert figures["committed_throughput_ratio_ours_over_kvstore"] > 0  # both networks committed the load
    assert "ours" in run.stdout and "kvstore" in run.stdout
