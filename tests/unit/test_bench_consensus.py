"""bench/consensus end to end on a tiny configuration: the grid runs, the tables and results keys come out;
and `python -m bench.consensus --smoke` runs as a user would (so the command cannot rot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.common import RESULTS_DIR
from bench.consensus.config import CLEAN, ConsConfig, compute_attackers
from bench.consensus.experiments import Cell, run_grid
from bench.consensus.plot import write_plot
from bench.consensus.report import ACCURACY_COLUMNS
from bench.consensus.summary import compose
from tests.bench_smoke import run_smoke

TINY = ConsConfig(
    seeds=(0,),
    participants=5,
    archs=("logreg", "mlp:8"),
    epochs=3,
    query_size=6,
    max_queries=3,
    rounds=1,
    peer_sample=2,
    fractions_pct=(0, 20),
    warmup_queries=1,
)


@pytest.fixture(scope="module")
def results() -> dict[Cell, list]:
    steps: list[str] = []
    out = run_grid(TINY, steps.append)
    assert len(steps) == 1 + len(out)  # training, then one step per cell
    return out


def test_grid_covers_clean_and_every_attack(results) -> None:
    assert set(results) == {Cell(CLEAN, 0), *(Cell(a, 20) for a in TINY.attacks)}
    for cell, runs in results.items():
        (run,) = runs
        assert run.counts["cold"].inputs == 3 * TINY.query_size
        assert run.counts["warm"].inputs == 2 * TINY.query_size  # the queries after the warm-up one
        assert (run.attacker_reputation_bps is None) == (cell.attack == CLEAN)


def test_compose_gives_the_tables_and_headline_keys(results, tmp_path: Path) -> None:
    tables, body = compose(results, TINY)
    assert [key for key, *_ in tables] == ["cold", "warm", "reputation", "targets"]
    cold = body["cold_table"]
    assert cold["columns"] == ACCURACY_COLUMNS and len(cold["rows"]) == len(results)
    assert all(len(row) == len(ACCURACY_COLUMNS) for row in cold["rows"])
    targets = body["targets_table"]["rows"]
    assert len(targets) == 4 and all(row[4] in ("met", "MISSED") for row in targets)
    for key in (
        "cold_clean_gain_over_best_single_points",
        "warm_worst_gap_to_vote_20_pct_points",
        "cold_clean_settled_accuracy_pct",
        "warm_clean_vote_all_accuracy_pct",
        "notes",
    ):
        assert key in body
    json.dumps(body)  # the results file must serialize
    assert write_plot(results, TINY, tmp_path / "consensus.png").stat().st_size > 0


def test_attackers_are_nested_across_fractions() -> None:
    config = ConsConfig(participants=10)
    small, large = compute_attackers(config, 4, 10), compute_attackers(config, 4, 30)
    assert len(small) == 1 and len(large) == 3 and small < large


def test_the_consensus_benchmark_smoke_run_settles_queries_clean_and_under_every_attack() -> None:
    figures, stdout = run_smoke("bench.consensus", "consensus-smoke", timeout=300)
    assert figures["settings"]["smoke"] is True and figures["settings"]["participants"] == 6
    cells = [("none", "0"), ("stubborn", "20"), ("random", "20"), ("collude", "20")]
    for table in ("cold_table", "warm_table", "reputation_table"):
        assert [tuple(row[:2]) for row in figures[table]["rows"]] == cells, table
    for phase in ("cold", "warm"):
        for way in ("settled", "round0", "vote_all", "best_single"):
            assert 0 < figures[f"{phase}_clean_{way}_accuracy_pct"] <= 100, (phase, way)
        assert f"{phase}_clean_gain_over_best_single_points" in figures
        assert f"{phase}_worst_gap_to_vote_20_pct_points" in figures
    attackers = [row[3] for row in figures["reputation_table"]["rows"]]
    assert attackers[0] == "-" and all(0 <= int(bps) <= 10_000 for bps in attackers[1:])
    assert figures["plot"] == "consensus-smoke.png" and (RESULTS_DIR / figures["plot"]).stat().st_size > 0
    assert "Targets" in stdout
