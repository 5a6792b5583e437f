"""bench/consensus end to end on a tiny configuration: the grid runs, the tables and results keys come out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.consensus.config import CLEAN, ConsConfig, compute_attackers
from bench.consensus.experiments import Cell, run_grid
from bench.consensus.plot import write_plot
from bench.consensus.report import ACCURACY_COLUMNS
from bench.consensus.summary import compose

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
