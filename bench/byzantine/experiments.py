"""The bench's grid: which scenarios run, in which world, and the verification-cost measurement.

Every scenario is a Cell; each runs once per seed in that seed's World, and all cells of one world run
back to back so they share its memo of local updates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.ml.attacks import parse_committee_attack, parse_worker_attack
from app.ml.federated import compute_round_config, compute_round_weights
from app.ml.scoring import compute_reference_update, count_scoring_passes, score_directions, score_round
from bench.byzantine.config import DEFAULT_PIPELINE, ByzConfig, World
from bench.byzantine.sim import RunResult, make_committee, run_scenario

__all__ = [
    "CLEAN",
    "COMMITTEE_ATTACKS",
    "COMMITTEE_WORKER_ATTACK",
    "Cell",
    "CostSample",
    "measure_cost",
    "plan_cells",
    "run_cell",
    "run_grid",
]

CLEAN = "none"
COMMITTEE_ATTACKS = ("lazy", "collude")
# Behind the committee-side attacks, 20% of workers sign-flip, so the verdicts have something to catch.
COMMITTEE_WORKER_ATTACK, COMMITTEE_WORKER_PCT = "sign_flip:scale=5", 20
SWEEP_FRACTIONS = (20, 30)


@dataclass(frozen=True)
class Cell:
    """One scenario of one dataset; committee_attack is '' for an honest committee."""

    dataset: str
    attack: str
    fraction_pct: int
    rule: str
    max_drop_bps: int
    committee_attack: str = ""
    committee_share_pct: int = 0


def _main_cells(config: ByzConfig, dataset: str) -> list[Cell]:
    """Every rule against every attack at every fraction (the clean run once per rule)."""
    cells = [Cell(dataset, CLEAN, 0, rule, config.max_drop_bps) for rule in config.rules]
    for attack in config.attacks:
        for fraction in (f for f in config.fractions_pct if f > 0):
            cells += [Cell(dataset, attack, fraction, rule, config.max_drop_bps) for rule in config.rules]
    return cells


def _sweep_cells(config: ByzConfig, dataset: str, thresholds: tuple[int, ...]) -> list[Cell]:
    """The default pipeline at other max_score_drop_bps values, clean and at 20% and 30%."""
    cells = []
    for threshold in (t for t in thresholds if t != config.max_drop_bps):
        cells.append(Cell(dataset, CLEAN, 0, DEFAULT_PIPELINE, threshold))
        for attack in config.attacks:
            cells += [Cell(dataset, attack, f, DEFAULT_PIPELINE, threshold) for f in SWEEP_FRACTIONS]
    return cells


def _committee_cells(config: ByzConfig, dataset: str) -> list[Cell]:
    """Lazy and colluding members holding each share of the committee, behind sign-flipping workers."""
    return [
        Cell(
            dataset,
            COMMITTEE_WORKER_ATTACK,
            COMMITTEE_WORKER_PCT,
            DEFAULT_PIPELINE,
            config.max_drop_bps,
            attack,
            share,
        )
        for attack in COMMITTEE_ATTACKS
        for share in config.committee_shares_pct
    ]


def plan_cells(config: ByzConfig, dataset: str, thresholds: tuple[int, ...]) -> list[Cell]:
    """Return every cell of dataset: the main grid, the threshold sweep and the committee attacks."""
    return (
        _main_cells(config, dataset)
        + _sweep_cells(config, dataset, thresholds)
        + _committee_cells(config, dataset)
    )


def run_cell(world: World, cell: Cell) -> RunResult:
    """Run one cell in world."""
    attack = parse_worker_attack(cell.attack) if cell.attack != CLEAN else None
    committee = None
    if cell.committee_attack:
        bad = world.config.committee_size * cell.committee_share_pct // 100
        committee = make_committee(parse_committee_attack(cell.committee_attack), bad)
    return run_scenario(world, cell.rule, attack, cell.fraction_pct, committee, cell.max_drop_bps)


def run_grid(
    config: ByzConfig, thresholds: tuple[int, ...], on_run: Callable[[str], None]
) -> dict[Cell, list[RunResult]]:
    """Run every cell of every dataset once per seed; on_run is told about each finished run."""
    results: dict[Cell, list[RunResult]] = {}
    for dataset in config.datasets:
        cells = plan_cells(config, dataset, thresholds)
        for seed in config.seeds:
            world = World(config, dataset, seed)
            for cell in cells:
                results.setdefault(cell, []).append(run_cell(world, cell))
                on_run(f"{dataset} seed {seed}: {cell.rule} vs {cell.attack} at {cell.fraction_pct}%")
    return results


@dataclass(frozen=True)
class CostSample:
    """One round: every worker's local training summed, and one member scoring every update once.

    The row counts are the work in forward passes over one sample (app.ml.scoring.count_scoring_passes):
    scoring makes one per candidate model and evaluation row of the member's sample, plus its reference
    training and one per cosine; training about three per training row and epoch (forward and
    backward). full_row_passes is the same scoring on every evaluation row.
    """

    train_seconds: float
    score_seconds: float
    train_row_passes: int
    score_row_passes: int
    full_row_passes: int = 0


def _time_round(world: World, weights: NDArray[np.int64], round_index: int) -> tuple[float, float]:
    """Return the seconds of one round's training (all workers) and of one member scoring it."""
    config = world.config
    trained = [world.train(weights, round_index, w, world.shards[w].y) for w in range(config.workers)]
    rows = np.arange(_sample_rows(world))
    started = time.perf_counter()
    updates = [update for update, _, _ in trained]
    x, y = world.x_val[rows], world.y_val[rows]
    score_round(config.arch, weights, updates, x, y)
    if config.max_norm_ratio_bps:
        train = compute_round_config(config.train_config(), round_index, 1_000_000)
        score_directions(updates, compute_reference_update(config.arch, weights, x, y, train))
    return sum(seconds for _, _, seconds in trained), time.perf_counter() - started


def _sample_rows(world: World) -> int:
    """Return how many evaluation rows one member scores on."""
    rows, sample = int(world.y_val.shape[0]), world.config.eval_sample_rows
    return rows if sample <= 0 else min(rows, sample)


def measure_cost(world: World, repeats: int = 3) -> list[CostSample]:
    """Time clean FedAvg rounds without the memo: the round's training and one member's scoring.

    Each side keeps its fastest of repeats runs (timeit's rule: slower runs measure other load on the
    machine). Run it after the grid, so JIT compilation is already paid.
    """
    config = world.config
    weights = world.initial
    samples = []
    for round_index in range(config.rounds):
        timings = [_time_round(world, weights, round_index) for _ in range(repeats)]
        trained = [world.train(weights, round_index, w, world.shards[w].y) for w in range(config.workers)]
        train_passes = 3 * config.local_epochs * sum(count for _, count, _ in trained)
        sample, full = _sample_rows(world), int(world.y_val.shape[0])
        epochs = config.local_epochs if config.max_norm_ratio_bps else 0
        score_passes = count_scoring_passes(len(trained), sample, sample, epochs)
        full_passes = count_scoring_passes(len(trained), full, full, epochs)
        train_s, score_s = min(t for t, _ in timings), min(s for _, s in timings)
        samples.append(CostSample(train_s, score_s, train_passes, score_passes, full_passes))
        weights = compute_round_weights(weights, [(update, count) for update, count, _ in trained])
    return samples
