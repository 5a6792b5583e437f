"""`python -m bench.fl --smoke` runs (so the FedAvg benchmark's own command cannot rot): the reference and
in-process arms train, the chain and Flower arms say why they did not run, and every rule is timed."""

from __future__ import annotations

from bench.fl.speed import SIZES, SPEED_CASES
from tests.bench_smoke import run_smoke


def test_the_fl_benchmark_smoke_run_trains_the_in_process_arms_and_times_every_rule() -> None:
    figures, stdout = run_smoke("bench.fl", "fl-smoke", timeout=300)
    settings = figures["settings"]
    assert settings["smoke"] is True and settings["workers"] == 2 and settings["rounds"] == 2
    arms = {arm["name"]: arm for arm in figures["arms"]}
    assert len(arms) == 4 and [row[0] for row in figures["table"]["rows"]] == list(arms)
    for key in ("centralized_accuracy_pct", "inprocess_accuracy_pct"):
        assert 10 < figures[key] <= 100, key  # better than guessing one of ten digits
    assert figures["chain_accuracy_pct"] is None and figures["flower_accuracy_pct"] is None
    assert [row[0] for row in figures["round_table"]["rows"]] == ["1", "2"]
    assert len(figures["speed_table"]["rows"]) == len(SPEED_CASES) * len(SIZES)
    ratios = [v for k, v in figures.items() if k.endswith("_speed_ratio_integer_over_float")]
    assert len(ratios) == len(SPEED_CASES) * len(SIZES) and all(r > 0 for r in ratios)
    assert "not run (--smoke)" in stdout and "Aggregation speed" in stdout
