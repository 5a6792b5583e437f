"""`python -m bench.byzantine --smoke` runs (so the Byzantine-robustness benchmark cannot rot): every rule
meets every attack on the three datasets, and every table and the heatmap come out."""

from __future__ import annotations

from bench.byzantine.config import ATTACKS, RULES
from bench.common import RESULTS_DIR
from tests.bench_smoke import run_smoke

DATASETS = ("digits", "breast_cancer", "wine")


def test_the_byzantine_benchmark_smoke_run_fills_every_table_for_every_rule_and_attack() -> None:
    figures, stdout = run_smoke("bench.byzantine", "byzantine-smoke", timeout=300)
    assert figures["settings"]["smoke"] is True and figures["settings"]["rounds"] == 2
    accuracy = figures["accuracy_table"]
    assert accuracy["columns"][3:] == list(RULES)
    scenarios = [("none", "0")] + [(a, f) for a in ATTACKS for f in ("20", "30")]
    assert [tuple(row[:3]) for row in accuracy["rows"]] == [(d, *s) for d in DATASETS for s in scenarios]
    for row in accuracy["rows"]:
        assert all(0 <= float(cell.split(" ± ")[0]) <= 100 for cell in row[3:]), row
    for dataset in DATASETS:
        assert 0 < figures[f"{dataset}_clean_mean_accuracy_pct"] <= 100, dataset
    # Three datasets x (lazy, collude) at 30% of the seats; x (500, default) thresholds; one cost row each.
    assert len(figures["committee_table"]["rows"]) == 6 and len(figures["sweep_table"]["rows"]) == 6
    assert [row[0] for row in figures["cost_table"]["rows"]] == list(DATASETS)
    capture = figures["capture_table"]["rows"]
    assert len(capture) == 12 and all(0 <= float(row[5]) <= 100 for row in capture)
    targets = figures["targets_table"]["rows"]
    assert all(row[3] in ("met", "MISSED") for row in targets)
    assert any(row[0] == "malicious updates excluded or harmless (pooled)" for row in targets)
    assert all(0 < figures[f"{d}_verification_cost_ratio"] < figures["settings"]["workers"] for d in DATASETS)
    assert figures["plot"] == "byzantine-smoke.png" and (RESULTS_DIR / figures["plot"]).stat().st_size > 0
    assert "Final test accuracy %" in stdout
