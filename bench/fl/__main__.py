"""python -m bench.fl [--rounds 20] [--workers 8] [--arch logreg] [--quick] [--smoke] [--chain] [--no-flower]
[--results fl].

--smoke runs the centralized and in-process arms (2 workers, 2 rounds) and the speed table at its
fewest timings, in seconds, without Flower (its virtualenv takes minutes to make) and without the
chain unless --chain asks; it writes bench/results/fl-smoke.json instead of fl.json.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from importlib.metadata import version
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.common import print_table, write_results
from bench.fl import speed
from bench.fl.arms import CHAIN_NAME, run_centralized, run_chain, run_inprocess
from bench.fl.config import ArmResult, FLConfig, FLData
from bench.fl.flower import NAME as FLOWER_NAME
from bench.fl.flower import run_flower

console = Console(stderr=True)
ARM_COLUMNS = ["arm", "final accuracy %", "start-up s", "first round s", "s/round after", "total s", "note"]
SPEED_COLUMNS = ["rule", "updates", "params", "integer M entries/s", "float64 M entries/s", "ratio int/float"]


def _parse() -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.fl", description=__doc__)
    parser.add_argument(
        "--rounds", type=int, default=None, help="federated rounds (default 20, 5 with --quick)"
    )
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--arch", default="logreg", help="logreg or mlp:H (e.g. mlp:32)")
    parser.add_argument("--quick", action="store_true", help="5 rounds and a short timing budget")
    parser.add_argument(
        "--smoke", action="store_true", help="2 workers, 2 rounds, no Flower: checks that it runs, for CI"
    )
    parser.add_argument(
        "--chain",
        action="store_true",
        help="also run the on-chain arm (a): a 4-validator localnet in a temp dir and one `synod worker run` "
        "per worker (off by default: its start-up and rounds take minutes)",
    )
    parser.add_argument("--no-flower", action="store_true", help="skip the Flower arm (c)")
    parser.add_argument(
        "--results",
        default="fl",
        help="write bench/results/NAME.json (default fl; e.g. fl-large for a large-model run)",
    )
    return parser.parse_args()


def _progress() -> Progress:
    """Return the live progress display the arms report to."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, transient=True)


def _run_arms(config: FLConfig, args: argparse.Namespace) -> list[ArmResult]:
    """Run every arm asked for in turn with live progress and return their results in table order."""
    data = FLData(config)
    chain = ArmResult(CHAIN_NAME, note="not run (--chain to enable)")
    with _progress() as progress:
        if args.chain:
            task = progress.add_task("on chain", total=config.rounds)
            chain = run_chain(
                config,
                lambda status: progress.update(task, description=f"on chain: {status}"),
                lambda r: progress.update(task, completed=r, description=f"on chain: round {r}"),
            )
        # In-process first: its first round then pays for JIT compilation, as each Flower actor's does.
        task = progress.add_task("in-process FedAvg", total=config.rounds)
        inprocess = run_inprocess(config, data, lambda r, acc: _advance(progress, task, r, acc, "in-process"))
        task = progress.add_task("centralized reference", total=1)
        centralized = run_centralized(config, data)
        progress.update(task, completed=1)
        if args.no_flower or args.smoke:
            skipped = "--smoke" if args.smoke else "--no-flower"
            return [centralized, chain, inprocess, ArmResult(FLOWER_NAME, note=f"not run ({skipped})")]
        task = progress.add_task("Flower", total=config.rounds)
        flower = run_flower(
            config,
            lambda status: progress.update(task, description=f"Flower: {status}"),
            lambda r, acc: _advance(progress, task, r, acc, "Flower"),
        )
    return [centralized, chain, inprocess, flower]


def _advance(progress: Progress, task: Any, round_number: int, accuracy: float, label: str) -> None:
    """Show a finished round and its accuracy."""
    progress.update(
        task, completed=round_number, description=f"{label}: round {round_number}, {accuracy:.1f}%"
    )


def _run_speed(budget_s: float) -> list[speed.SpeedResult]:
    """Time every rule at every size against its float version."""
    cases = [(case, n, d) for case in speed.SPEED_CASES for n, d in speed.SIZES]
    results = []
    with _progress() as progress:
        task = progress.add_task("aggregation speed", total=len(cases))
        for case, n, d in cases:
            progress.update(task, description=f"aggregation speed: {case.label}, {n} x {d}")
            results.append(speed.measure(case, n, d, budget_s))
            progress.advance(task)
    return results


def _fmt(value: float | None, digits: int = 2) -> str:
    """Format a figure, or '-' when the arm did not produce it."""
    return "-" if value is None else f"{value:.{digits}f}"


def _arm_row(arm: ArmResult) -> list[str]:
    """Return one arm's row of the accuracy table."""
    return [
        arm.name,
        _fmt(arm.accuracy_pct),
        _fmt(arm.startup_seconds),
        _fmt(arm.first_round_seconds),
        _fmt(arm.seconds_per_round, 3),
        _fmt(arm.total_seconds),
        arm.note,
    ]


def _speed_row(result: speed.SpeedResult) -> list[str]:
    """Return one row of the aggregation speed table."""
    return [
        result.case.label,
        str(result.updates),
        str(result.params),
        f"{result.integer_per_s / 1e6:.2f}",
        f"{result.float_per_s / 1e6:.2f}",
        f"{result.ratio:.2f}",
    ]


def _round(value: float | None, digits: int) -> float | None:
    """Round a figure for the results file, keeping None for an arm that did not run."""
    return None if value is None else round(value, digits)


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    """Return ours / theirs rounded, or None when either is missing."""
    return None if ours is None or not theirs else round(ours / theirs, 4)


def _headline(arms: list[ArmResult], speeds: list[speed.SpeedResult]) -> dict[str, Any]:
    """Return the named figures of the run: accuracies, times, ratios."""
    centralized, chain, inprocess, flower = arms
    figures: dict[str, Any] = {
        "centralized_accuracy_pct": _round(centralized.accuracy_pct, 2),
        "chain_accuracy_pct": _round(chain.accuracy_pct, 2),
        "inprocess_accuracy_pct": _round(inprocess.accuracy_pct, 2),
        "flower_accuracy_pct": _round(flower.accuracy_pct, 2),
        "inprocess_seconds_per_round": _round(inprocess.seconds_per_round, 4),
        "flower_seconds_per_round": _round(flower.seconds_per_round, 4),
        "accuracy_ratio_inprocess_over_flower": _ratio(inprocess.accuracy_pct, flower.accuracy_pct),
        "accuracy_ratio_inprocess_over_centralized": _ratio(inprocess.accuracy_pct, centralized.accuracy_pct),
        "round_time_ratio_inprocess_over_flower": _ratio(
            inprocess.seconds_per_round, flower.seconds_per_round
        ),
        # The chain's wall time per round over all rounds (round 1's start to the last close) / Flower's.
        "chain_seconds_per_round": _round(chain.extra.get("seconds_per_round_all"), 4),
        "chain_startup_seconds": _round(chain.startup_seconds, 2),
        "round_time_ratio_chain_over_flower": _ratio(
            chain.extra.get("seconds_per_round_all"), flower.seconds_per_round
        ),
        "accuracy_ratio_chain_over_flower": _ratio(chain.accuracy_pct, flower.accuracy_pct),
    }
    for result in speeds:
        key = f"aggregation_{result.case.label.split(' (')[0].replace(' ', '_').replace('-', '_')}"
        key += f"_{result.updates}x{result.params}"
        figures[f"{key}_integer_entries_per_s"] = round(result.integer_per_s)
        figures[f"{key}_float_entries_per_s"] = round(result.float_per_s)
        figures[f"{key}_speed_ratio_integer_over_float"] = round(result.ratio, 4)
    return figures


def _notes(arms: list[ArmResult]) -> list[str]:
    """Return the lines printed under the table: the on-chain round time against the issue's target."""
    _, chain, _, flower = arms
    ratio = _ratio(chain.extra.get("seconds_per_round_all"), flower.seconds_per_round)
    if ratio is None:
        return []
    verdict = "meets" if ratio <= 3 else "misses"
    return [
        f"on-chain s/round / Flower s/round = {ratio:.1f} ({verdict} issue 18's target <= 3): an on-chain "
        "round takes at least two blocks (commit, then reveal; each phase closes early once everyone is "
        "done), while a Flower round is local training in an in-process simulation (Ray actors)"
    ]


def _round_rows(arms: list[ArmResult]) -> list[list[str]]:
    """Return per-round accuracies of the arms that ran rounds, side by side."""
    ran = [arm for arm in arms if arm.accuracy_pct_per_round]
    rounds = max((len(arm.accuracy_pct_per_round) for arm in ran), default=0)
    return [
        [
            str(r + 1),
            *[
                _fmt(arm.accuracy_pct_per_round[r]) if r < len(arm.accuracy_pct_per_round) else "-"
                for arm in ran
            ],
        ]
        for r in range(rounds)
    ]


def main() -> None:
    """Run the arms and the speed comparison, print the tables, write bench/results/fl.json."""
    args = _parse()
    rounds = 2 if args.smoke else args.rounds or (5 if args.quick else 20)
    config = FLConfig(arch=args.arch, workers=2 if args.smoke else args.workers, rounds=rounds)
    started = time.monotonic()
    arms = _run_arms(config, args)
    speeds = _run_speed(0.0 if args.smoke else 0.05 if args.quick else 0.3)  # 0: the fewest timings
    title = (
        f"FedAvg on {config.dataset}, {config.arch}, {config.workers} workers, "
        f"Dirichlet {config.alpha}, {rounds} rounds"
    )
    arm_rows = [_arm_row(arm) for arm in arms]
    print_table(title, ARM_COLUMNS, arm_rows)
    notes = _notes(arms)
    for line in notes:
        console.print(line)
    round_columns = ["round", *[arm.name for arm in arms if arm.accuracy_pct_per_round]]
    round_rows = _round_rows(arms)
    print_table("Test accuracy % after each round", round_columns, round_rows)
    speed_rows = [_speed_row(result) for result in speeds]
    print_table(
        "Aggregation speed: integer rule (chain) vs float64 numpy, same inputs", SPEED_COLUMNS, speed_rows
    )
    data = FLData(config)
    settings = {
        **asdict(config),
        "param_count": data.param_count,
        "shard_sizes": [len(shard.y) for shard in data.shards],
        "test_rows": len(data.dataset.y_test),
        "versions": {name: version(name) for name in ("jax", "optax", "numpy", "scikit-learn")},
        "quick": args.quick,
        "smoke": args.smoke,
    }
    path = write_results(
        "fl-smoke" if args.smoke else args.results,  # a smoke run keeps the committed figures
        {
            **_headline(arms, speeds),
            "settings": settings,
            "arms": [{**asdict(arm), "seconds_per_round": arm.seconds_per_round} for arm in arms],
            "table": {"columns": ARM_COLUMNS, "rows": arm_rows},
            "notes": notes,
            "round_table": {"columns": round_columns, "rows": round_rows},
            "speed_table": {"columns": SPEED_COLUMNS, "rows": speed_rows},
            "run_seconds": round(time.monotonic() - started),
        },
    )
    console.print(f"wrote {path} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
