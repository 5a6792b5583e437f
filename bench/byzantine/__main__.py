"""python -m bench.byzantine [--smoke] [--seeds N] [--rounds R] [--max-drop-bps B] (see bench/byzantine)."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace
from importlib.metadata import version
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.modules.committee.logic import compute_committee_size
from app.modules.committee.params import default_params
from bench.byzantine.capture import LAYOUTS, CaptureResult, simulate_capture
from bench.byzantine.config import COMMITTEE_PREFIX, DEFAULT_PIPELINE, ByzConfig, World
from bench.byzantine.experiments import CLEAN, Cell, CostSample, measure_cost, plan_cells, run_grid
from bench.byzantine.plot import write_heatmap
from bench.byzantine.report import (
    Results,
    accuracy_rows,
    capture_rows,
    choose_pipeline,
    committee_rows,
    cost_rows,
    selection_rows,
    summarize,
    sweep_rows,
    target_rows,
)
from bench.common import RESULTS_DIR, print_table, write_results

console = Console(stderr=True)
SWEEP = (500, 1000, 2500)
# Every rule against every attack, at the fractions the targets read, in two short rounds.
SMOKE = {"seeds": (0,), "rounds": 2, "fractions_pct": (0, 20, 30), "committee_shares_pct": (30,)}
SMOKE_SWEEP, SMOKE_DRAWS = (500,), 50
CAPTURE_VALIDATORS = (100, 1000)
CAPTURE_SIZES = (5, 15)


def _parse() -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.byzantine", description=__doc__)
    parser.add_argument(
        "--smoke", action="store_true", help="every table at its smallest (1 seed, 2 rounds): for CI"
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell (default 5, 1 with --smoke)")
    parser.add_argument(
        "--rounds", type=int, default=None, help="federated rounds (default 20, 2 with --smoke)"
    )
    parser.add_argument(
        "--max-drop-bps",
        type=int,
        default=int(default_params().max_score_drop_bps),
        help="the committee's max_score_drop_bps (default: the chain's default parameter)",
    )
    parser.add_argument(
        "--capture-draws", type=int, default=None, help="committees per capture cell (default 4000)"
    )
    return parser.parse_args()


def _config(args: argparse.Namespace) -> ByzConfig:
    """Return the bench configuration the options ask for."""
    config = ByzConfig(max_drop_bps=args.max_drop_bps)
    if args.smoke:
        config = replace(config, **SMOKE)
    if args.seeds:
        config = replace(config, seeds=tuple(range(args.seeds)))
    if args.rounds:
        config = replace(config, rounds=args.rounds)
    return config


def _progress() -> Progress:
    """Return the live progress display."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, transient=True)


def _run(
    config: ByzConfig, thresholds: tuple[int, ...], draws: int
) -> tuple[Results, dict[str, list[CostSample]], list[CaptureResult]]:
    """Run the grid, the cost measurement and the capture simulation under one progress bar."""
    runs = sum(len(plan_cells(config, d, thresholds)) for d in config.datasets) * len(config.seeds)
    size = _default_committee_size()
    captures = [
        (layout, n, s) for layout in LAYOUTS for n in CAPTURE_VALIDATORS for s in (*CAPTURE_SIZES, size)
    ]
    with _progress() as progress:
        grid = progress.add_task("federations", total=runs)
        results = run_grid(
            config, thresholds, lambda text: progress.update(grid, advance=1, description=text)
        )
        costs = {d: measure_cost(World(config, d, config.seeds[0])) for d in config.datasets}
        task = progress.add_task("committee capture", total=len(captures) * draws)
        found = [
            simulate_capture(
                layout,
                s,
                int(default_params().adversarial_stake_bps),
                draws,
                n,
                on_draw=lambda: progress.advance(task),
            )
            for layout, n, s in captures
        ]
    return results, costs, found


def _default_committee_size() -> int:
    """Return the committee size the chain's default parameters give."""
    p = default_params()
    return compute_committee_size(p.adversarial_stake_bps, p.capture_target_ppb, p.max_committee_size)


def _headline(
    results: Results, config: ByzConfig, pipeline: str, captures: list[CaptureResult]
) -> dict[str, Any]:
    """Return the named figures: clean accuracies, the pipeline chosen, capture rates."""
    figures: dict[str, Any] = {"default_pipeline": pipeline, "max_score_drop_bps": config.max_drop_bps}
    for dataset in config.datasets:
        for rule in ("mean", pipeline):
            key = f"{dataset}_clean_{rule.replace(COMMITTEE_PREFIX, 'committee_')}_accuracy_pct"
            figures[key] = round(
                summarize(results[Cell(dataset, CLEAN, 0, rule, config.max_drop_bps)]).accuracy, 2
            )
    for c in captures:
        key = f"capture_{c.layout}_{c.validators}_validators_{c.size}_seats"
        figures[f"{key}_pct"] = round(100 * c.rate, 3)
        figures[f"{key}_bound_pct"] = round(c.analytic_ppb / 1e7, 3)
    return figures


def _notes(config: ByzConfig, pipeline: str) -> list[str]:
    """Return the lines printed under the tables."""
    notes = [
        f"clean = plain FedAvg (mean) with no attacker; committee members score on the validation rows, "
        f"accuracy is on the test rows; max_score_drop_bps = {config.max_drop_bps}",
        f"best committee pipeline measured: {pipeline} (smallest worst-case drop at 20-30%)",
        "trimmed_mean alone trims 30% per side, behind the committee 10%; Krum is multi-Krum with f = 30% "
        "of the updates, averaging the n - f best",
        "withheld updates count as excluded (they never reach the rule); sign_flip is scaled by 5: a plain "
        "flip only slows a mean",
        f"direction test: fail when the members' median cosine with their reference update is below "
        f"{config.min_direction_bps} bps or the median norm above {config.max_norm_ratio_bps} bps of the "
        f"round's median norm; each member scores and trains its reference on {config.eval_sample_rows} "
        "seed-chosen evaluation rows of its own",
        "harmless: accepted malicious updates that leave the round's model within the honest spread (the "
        "largest test-accuracy change from leaving out one accepted honest update) of the accepted honest "
        "updates' model; ALIE and IPM colluders craft together from all malicious workers' updates",
        "forward passes: training = 3 x rows x epochs summed over workers; scoring = (updates + 1) x sample "
        "rows + 3 x reference rows x epochs + one per cosine",
    ]
    if pipeline != DEFAULT_PIPELINE:
        notes.append(
            f"the sweep and committee tables ran {DEFAULT_PIPELINE}, not the best measured {pipeline}"
        )
    return notes


SWEEP_COLUMNS = [
    "dataset",
    "max drop bps",
    "clean %",
    "worst drop 20%",
    "worst drop 30%",
    "malicious excluded %",
    "honest penalized %",
]
COMMITTEE_COLUMNS = [
    "dataset",
    "member attack",
    "bad stake %",
    "verdicts as honest-only %",
    "malicious excluded %",
    "honest penalized %",
    "bad members flagged %",
    "honest members flagged %",
    "accuracy %",
]
CAPTURE_COLUMNS = [
    "adversary",
    "validators",
    "seats",
    "adversarial stake %",
    "draws",
    "captured %",
    "bound %",
    "ratio sim/bound",
]
TARGET_COLUMNS = ["target", "measured", "goal", "status", "note"]
Table = tuple[str, str, list[str], list[list[str]]]


def _tables(
    results: Results,
    config: ByzConfig,
    thresholds: tuple[int, ...],
    costs: dict[str, list[CostSample]],
    captures: list[CaptureResult],
) -> list[Table]:
    """Return (key, title, columns, rows) of every table but the targets, in print order."""
    selecting = [r for r in config.rules if r == "krum" or r.startswith(COMMITTEE_PREFIX)]
    scenario = ["dataset", "attack", "malicious %"]
    return [
        (
            "accuracy",
            "Final test accuracy % (mean ± std over seeds)",
            [*scenario, *config.rules],
            accuracy_rows(results, config),
        ),
        (
            "selection",
            "Malicious updates excluded % (+ accepted but harmless %) / honest updates penalized %",
            [*scenario, *selecting],
            selection_rows(results, config, selecting),
        ),
        (
            "sweep",
            f"{DEFAULT_PIPELINE} by max_score_drop_bps (drops in accuracy points from clean FedAvg)",
            SWEEP_COLUMNS,
            sweep_rows(results, config, thresholds),
        ),
        (
            "committee",
            f"Committee-side attacks ({DEFAULT_PIPELINE}, 20% sign-flipping workers)",
            COMMITTEE_COLUMNS,
            committee_rows(results, config),
        ),
        (
            "cost",
            "Verification cost per round (one member scoring every update vs all local training)",
            ["dataset", "training ms", "scoring ms", "time ratio", "forward-pass ratio", "all rows ratio"],
            cost_rows(costs),
        ),
        (
            "capture",
            "Committee capture: chain sampler (seats by stake, one vote each) vs the binomial bound",
            CAPTURE_COLUMNS,
            capture_rows(captures),
        ),
    ]


def _settings(
    config: ByzConfig, args: argparse.Namespace, thresholds: tuple[int, ...], draws: int
) -> dict[str, Any]:
    """Return the run's settings for the results file."""
    versions = {name: version(name) for name in ("jax", "numpy", "scikit-learn")}
    return {
        **asdict(config),
        "sweep_bps": thresholds,
        "capture_draws": draws,
        "smoke": args.smoke,
        "versions": versions,
    }


def main() -> None:
    """Run the bench, print its tables and write bench/results/byzantine.json (and .png)."""
    args = _parse()
    config = _config(args)
    thresholds = tuple(sorted({*(SMOKE_SWEEP if args.smoke else SWEEP), config.max_drop_bps}))
    draws = args.capture_draws or (SMOKE_DRAWS if args.smoke else 4000)
    started = time.monotonic()
    results, costs, captures = _run(config, thresholds, draws)
    pipeline = choose_pipeline(results, config)
    targets = target_rows(results, config, pipeline, costs)
    tables = [
        *_tables(results, config, thresholds, costs, captures),
        ("targets", f"Targets ({pipeline})", TARGET_COLUMNS, targets.rows),
    ]
    out: dict[str, Any] = {}
    for key, title, columns, rows in tables:
        print_table(title, columns, rows)
        out[f"{key}_table"] = {"title": title, "columns": columns, "rows": rows}
    notes = _notes(config, pipeline)
    for line in notes:
        console.print(line)
    name = "byzantine-smoke" if args.smoke else "byzantine"  # a smoke run keeps the committed figures
    plot = write_heatmap(results, config, RESULTS_DIR / f"{name}.png")
    headline = {**_headline(results, config, pipeline, captures), **targets.figures}
    extra = {"notes": notes, "settings": _settings(config, args, thresholds, draws), "plot": plot.name}
    path = write_results(name, {**headline, **out, **extra, "run_seconds": round(time.monotonic() - started)})
    console.print(f"wrote {path} and {plot} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
