"""python -m bench.consensus [--smoke] [--seeds N] [--rounds R] (see bench/consensus)."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace
from importlib.metadata import version

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.common import RESULTS_DIR, print_table, write_results
from bench.consensus.config import ConsConfig
from bench.consensus.experiments import plan_cells, run_grid
from bench.consensus.plot import write_plot
from bench.consensus.report import Results
from bench.consensus.summary import compose

console = Console(stderr=True)
# One participant per architecture, briefly trained; 2 warm-up queries leave 2 warm ones to count.
SMOKE = {
    "seeds": (0,),
    "participants": 6,
    "epochs": 2,
    "max_queries": 4,
    "warmup_queries": 2,
    "fractions_pct": (0, 20),
}


def _parse() -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.consensus", description=__doc__)
    parser.add_argument(
        "--smoke", action="store_true", help="1 seed, 6 participants, 4 queries, 0 and 20%% only: for CI"
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default 3, 1 with --smoke)")
    parser.add_argument(
        "--rounds", type=int, default=None, help="communication rounds after round 0 (default 2)"
    )
    return parser.parse_args()


def _config(args: argparse.Namespace) -> ConsConfig:
    """Return the bench configuration the options ask for."""
    config = ConsConfig()
    if args.smoke:
        config = replace(config, **SMOKE)
    if args.seeds:
        config = replace(config, seeds=tuple(range(args.seeds)))
    if args.rounds is not None:
        config = replace(config, rounds=args.rounds)
    return config


def _run(config: ConsConfig) -> Results:
    """Train every seed's participants and run every cell under one progress bar."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("training", total=len(config.seeds) * (1 + len(plan_cells(config))))
        return run_grid(config, lambda text: progress.update(task, advance=1, description=text))


def main() -> None:
    """Run the bench, print its tables and write bench/results/consensus.json (and .png)."""
    args = _parse()
    config = _config(args)
    started = time.monotonic()
    results = _run(config)
    tables, body = compose(results, config)
    for _, title, columns, rows in tables:
        print_table(title, columns, rows)
    for line in body["notes"]:
        console.print(line)
    name = "consensus-smoke" if args.smoke else "consensus"  # a smoke run keeps the committed figures
    plot = write_plot(results, config, RESULTS_DIR / f"{name}.png")
    versions = {name: version(name) for name in ("jax", "numpy", "scikit-learn")}
    settings = {**asdict(config), "smoke": args.smoke, "versions": versions}
    elapsed = round(time.monotonic() - started)
    path = write_results(name, {**body, "settings": settings, "plot": plot.name, "run_seconds": elapsed})
    console.print(f"wrote {path} and {plot} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
