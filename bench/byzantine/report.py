"""Turn the grid's runs into the bench's tables, targets and headline figures."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from bench.byzantine.capture import CaptureResult, compute_rate_ratio
from bench.byzantine.config import COMMITTEE_PREFIX, DEFAULT_PIPELINE, ByzConfig
from bench.byzantine.experiments import CLEAN, SWEEP_FRACTIONS, Cell, CostSample
from bench.byzantine.sim import RunResult

__all__ = [
    "Summary",
    "Targets",
    "accuracy_rows",
    "capture_rows",
    "choose_pipeline",
    "committee_rows",
    "cost_rows",
    "selection_rows",
    "summarize",
    "sweep_rows",
    "target_rows",
]

Results = dict[Cell, list[RunResult]]


@dataclass(frozen=True)
class Summary:
    """A cell's runs over seeds: accuracy mean and spread, and pooled shares in percent."""

    accuracy: float
    spread: float
    excluded_pct: float | None
    penalized_pct: float | None
    runs: tuple[RunResult, ...]
    harmless_pct: float | None = None  # malicious updates accepted but measured harmless


def _share(part: int, whole: int) -> float | None:
    """Return 100 * part / whole, None when there is nothing to divide."""
    return 100 * part / whole if whole else None


def summarize(runs: Iterable[RunResult]) -> Summary:
    """Return the seeds' mean accuracy, its standard deviation and the pooled selection shares."""
    pooled = tuple(runs)
    accuracies = [r.accuracy_pct for r in pooled]
    selects = pooled[0].selects
    excluded = _share(sum(r.malicious_excluded for r in pooled), sum(r.malicious_total for r in pooled))
    penalized = _share(sum(r.honest_penalized for r in pooled), sum(r.honest_total for r in pooled))
    harmless = _share(sum(r.malicious_harmless for r in pooled), sum(r.malicious_total for r in pooled))
    return Summary(
        float(np.mean(accuracies)),
        float(np.std(accuracies)),
        excluded if selects else None,
        penalized if selects else None,
        pooled,
        harmless if selects else None,
    )


def _caught(summary: Summary) -> float:
    """Return the share of malicious updates excluded or measured harmless, in percent."""
    return (summary.excluded_pct or 0.0) + (summary.harmless_pct or 0.0)


def _fmt(value: float | None, digits: int = 1) -> str:
    """Format a figure, '-' when it does not apply."""
    return "-" if value is None else f"{value:.{digits}f}"


def _main(
    results: Results, config: ByzConfig, dataset: str, attack: str, fraction: int, rule: str
) -> Summary:
    """Return the summary of one main-grid cell."""
    return summarize(results[Cell(dataset, attack, fraction, rule, config.max_drop_bps)])


def _scenarios(config: ByzConfig) -> list[tuple[str, int]]:
    """Return (attack, fraction) of every row: the clean run, then each attack at each fraction."""
    attacked = [(a, f) for a in config.attacks for f in config.fractions_pct if f > 0]
    return [(CLEAN, 0), *attacked]


def accuracy_rows(results: Results, config: ByzConfig) -> list[list[str]]:
    """Return the final test accuracy table: mean +- std over seeds per (dataset, attack, fraction, rule)."""
    rows = []
    for dataset in config.datasets:
        for attack, fraction in _scenarios(config):
            cells = [_main(results, config, dataset, attack, fraction, rule) for rule in config.rules]
            rows.append(
                [dataset, attack, str(fraction), *(f"{s.accuracy:.1f} ± {s.spread:.1f}" for s in cells)]
            )
    return rows


def selection_rows(results: Results, config: ByzConfig, rules: list[str]) -> list[list[str]]:
    """Return malicious excluded % / honest penalized % for the rules that select."""
    rows = []
    for dataset in config.datasets:
        for attack, fraction in _scenarios(config):
            cells = [_main(results, config, dataset, attack, fraction, rule) for rule in rules]
            rows.append(
                [dataset, attack, str(fraction)]
                + [
                    f"{_fmt(s.excluded_pct, 0)} (+{_fmt(s.harmless_pct, 0)}) / {_fmt(s.penalized_pct)}"
                    for s in cells
                ]
            )
    return rows


def _drops(
    results: Results, config: ByzConfig, dataset: str, rule: str, fraction: int, drop: int
) -> list[tuple[float, str]]:
    """Return (accuracy drop from clean FedAvg, attack) of rule at fraction, worst first."""
    clean = _main(results, config, dataset, CLEAN, 0, "mean").accuracy
    out = []
    for attack in config.attacks:
        runs = results.get(Cell(dataset, attack, fraction, rule, drop))
        if runs:
            out.append((clean - summarize(runs).accuracy, attack))
    return sorted(out, reverse=True)


def choose_pipeline(results: Results, config: ByzConfig) -> str:
    """Return the committee+ rule with the smallest worst drop at 20-30%, then the best mean accuracy."""
    candidates = [r for r in config.rules if r.startswith(COMMITTEE_PREFIX)]

    def badness(rule: str) -> tuple[float, float]:
        """Return (worst drop, mean drop) of rule over the datasets, attacks and fractions >= 20%."""
        drops = [
            d
            for dataset in config.datasets
            for fraction in config.fractions_pct
            if fraction >= 20
            for d, _ in _drops(results, config, dataset, rule, fraction, config.max_drop_bps)
        ]
        return (max(drops, default=0.0), float(np.mean(drops)) if drops else 0.0)

    return min(candidates, key=badness)


def _pooled(results: Results, config: ByzConfig, rule: str, drop: int, dataset: str | None = None) -> Summary:
    """Return one summary over every cell of rule at drop (all attacks, fractions, datasets or one)."""
    runs = [
        run
        for cell, cell_runs in results.items()
        if cell.rule == rule
        and cell.max_drop_bps == drop
        and not cell.committee_attack
        and (dataset is None or cell.dataset == dataset)
        for run in cell_runs
    ]
    return summarize(runs)


@dataclass
class Targets:
    """The targets table being built, and its figures for the headline."""

    rows: list[list[str]] = field(default_factory=list)
    figures: dict[str, float | None] = field(default_factory=dict)

    def add(self, name: str, key: str, value: float | None, goal: str, met: bool, note: str = "") -> None:
        """Record one target: what was measured, the goal, and whether it was met."""
        self.figures[key] = None if value is None else round(value, 2)
        self.rows.append([name, _fmt(value, 2), goal, "met" if met else "MISSED", note])


def _accuracy_targets(out: Targets, results: Results, config: ByzConfig, pipeline: str) -> None:
    """The pipeline within 3 points of clean FedAvg at 20% and within 5 at 30%, for every attack."""
    for dataset in config.datasets:
        for fraction, limit in ((20, 3.0), (30, 5.0)):
            drops = _drops(results, config, dataset, pipeline, fraction, config.max_drop_bps)
            if drops:
                worst, attack = drops[0]
                name = f"{dataset}: {pipeline} drop from clean at {fraction}%"
                key = f"{dataset}_worst_drop_{fraction}_pct"
                out.add(name, key, worst, f"<= {limit:.0f} points", worst <= limit, f"worst: {attack}")


def _selection_targets(out: Targets, results: Results, config: ByzConfig, pipeline: str) -> None:
    """At least 95% of malicious updates excluded or harmless, at most 2% of honest ones penalized.

    Harmless (measured per round): the accepted malicious updates leave the round's model at least as
    accurate on the test rows as the same rule's aggregate of the accepted honest updates alone.
    """
    pooled = _pooled(results, config, pipeline, config.max_drop_bps)
    low = [
        cell
        for cell, runs in results.items()
        if cell.rule == pipeline
        and cell.max_drop_bps == config.max_drop_bps
        and cell.attack != CLEAN
        and not cell.committee_attack
        and _caught(summarize(runs)) < 95
    ]
    excluded, penalized = pooled.excluded_pct or 0.0, pooled.penalized_pct or 0.0
    caught = _caught(pooled)
    attacks = ", ".join(sorted({f"{cell.dataset}/{cell.attack}@{cell.fraction_pct}" for cell in low}))
    out.add("malicious updates excluded (pooled)", "malicious_excluded_pct", excluded, "-", True)
    out.add(
        "malicious updates excluded or harmless (pooled)",
        "malicious_excluded_or_harmless_pct",
        caught,
        ">= 95%",
        caught >= 95,
        f"{len(low)} cells below 95%: {attacks}",
    )
    out.add("honest updates penalized (pooled)", "honest_penalized_pct", penalized, "<= 2%", penalized <= 2)


def _cost_targets(out: Targets, costs: dict[str, list[CostSample]]) -> None:
    """One member scoring every update costs at most 10% of the round's local training, in forward passes."""
    for dataset, samples in costs.items():
        train = sum(s.train_row_passes for s in samples)
        ratio = sum(s.score_row_passes for s in samples) / train
        full = sum(s.full_row_passes for s in samples) / train
        name = f"{dataset}: one member's scoring / round's training (forward passes)"
        note = f"every evaluation row: {full:.2f}"
        out.add(name, f"{dataset}_verification_cost_ratio", ratio, "<= 0.10", ratio <= 0.10, note)


def _sanity_targets(out: Targets, results: Results, config: ByzConfig) -> None:
    """Plain mean loses at least 20 points under ALIE or sign flip at 20%: the attacks have teeth."""
    if 20 not in config.fractions_pct:
        return
    for dataset in config.datasets:
        clean = _main(results, config, dataset, CLEAN, 0, "mean").accuracy
        losses = {
            a: clean - _main(results, config, dataset, a, 20, "mean").accuracy
            for a in config.attacks
            if a.startswith(("alie", "sign_flip"))
        }
        if losses:
            attack = max(losses, key=lambda a: losses[a])
            name = f"{dataset}: plain mean's loss under ALIE or sign flip at 20%"
            key = f"{dataset}_mean_loss_20_pct"
            out.add(name, key, losses[attack], ">= 20 points", losses[attack] >= 20, f"largest: {attack}")


def target_rows(
    results: Results, config: ByzConfig, pipeline: str, costs: dict[str, list[CostSample]]
) -> Targets:
    """Return the targets table (measured, goal, met) and its figures for the headline."""
    out = Targets()
    _accuracy_targets(out, results, config, pipeline)
    _selection_targets(out, results, config, pipeline)
    _cost_targets(out, costs)
    _sanity_targets(out, results, config)
    return out


def sweep_rows(results: Results, config: ByzConfig, thresholds: tuple[int, ...]) -> list[list[str]]:
    """Return the default pipeline per max_score_drop_bps: clean accuracy, worst drops, selection shares."""
    rows = []
    pipeline = DEFAULT_PIPELINE
    for dataset in config.datasets:
        for threshold in sorted(thresholds):
            clean_runs = results.get(Cell(dataset, CLEAN, 0, pipeline, threshold))
            if not clean_runs:
                continue
            worst = []
            for fraction in SWEEP_FRACTIONS:
                drops = _drops(results, config, dataset, pipeline, fraction, threshold)
                worst.append(f"{drops[0][0]:.1f} ({drops[0][1]})" if drops else "-")
            pooled = _pooled(results, config, pipeline, threshold, dataset)
            rows.append(
                [
                    dataset,
                    str(threshold),
                    f"{summarize(clean_runs).accuracy:.1f}",
                    *worst,
                    _fmt(pooled.excluded_pct),
                    _fmt(pooled.penalized_pct, 2),
                ]
            )
    return rows


def committee_rows(results: Results, config: ByzConfig) -> list[list[str]]:
    """Return the committee-side attacks: do verdicts hold, and are the bad members flagged?"""
    rows = []
    for cell, runs in results.items():
        if not cell.committee_attack:
            continue
        s = summarize(runs)
        flagged = _share(sum(r.bad_flagged for r in runs), sum(r.member_rounds for r in runs))
        honest = _share(sum(r.honest_flagged for r in runs), sum(r.honest_member_rounds for r in runs))
        same = _share(sum(r.verdicts_as_honest for r in runs), sum(r.verdicts_total for r in runs))
        rows.append(
            [
                cell.dataset,
                cell.committee_attack,
                str(cell.committee_share_pct),
                _fmt(same),
                _fmt(s.excluded_pct),
                _fmt(s.penalized_pct),
                _fmt(flagged),
                _fmt(honest),
                f"{s.accuracy:.1f} ± {s.spread:.1f}",
            ]
        )
    return rows


def cost_rows(costs: dict[str, list[CostSample]]) -> list[list[str]]:
    """Return per dataset the training and scoring time per round, and their time and work ratios.

    The work ratio counts sample forward passes: the time ratio tends to it once compute, not the
    per-call overhead of tiny models, dominates both sides.
    """
    rows = []
    for dataset, samples in costs.items():
        train = float(np.mean([s.train_seconds for s in samples]))
        score = float(np.mean([s.score_seconds for s in samples]))
        work = sum(s.train_row_passes for s in samples)
        passes = sum(s.score_row_passes for s in samples) / work
        full = sum(s.full_row_passes for s in samples) / work
        rows.append(
            [
                dataset,
                f"{1000 * train:.2f}",
                f"{1000 * score:.3f}",
                f"{score / train:.3f}",
                f"{passes:.3f}",
                f"{full:.2f}",
            ]
        )
    return rows


def capture_rows(captures: list[CaptureResult]) -> list[list[str]]:
    """Return the capture simulation next to the chain's binomial bound."""
    return [
        [
            c.layout,
            str(c.validators),
            str(c.size),
            f"{c.adversarial_bps / 100:.1f}",
            str(c.draws),
            f"{100 * c.rate:.2f}",
            f"{c.analytic_ppb / 1e7:.3f}",
            _fmt(compute_rate_ratio(c), 2),
        ]
        for c in captures
    ]
