"""The consensus bench's tables and targets, from the runs of every cell over seeds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from bench.consensus.config import CLEAN
from bench.consensus.experiments import PHASES, Cell, Counts, RunResult

__all__ = [
    "ACCURACY_COLUMNS",
    "REPUTATION_COLUMNS",
    "TARGET_COLUMNS",
    "Results",
    "Targets",
    "accuracy_rows",
    "mean_pct",
    "reputation_rows",
    "target_rows",
]

Results = dict[Cell, list[RunResult]]
ACCURACY_COLUMNS = [
    "attack",
    "malicious %",
    "settled",
    "round 0 only",
    "vote (all)",
    "vote (honest)",
    "best single",
    "settled - vote",
    "settled - best",
]
REPUTATION_COLUMNS = ["attack", "malicious %", "honest reputation bps", "attacker reputation bps"]
TARGET_COLUMNS = ["target", "phase", "measured", "goal", "status", "note"]
# Ways of answering, in table order; best_single is computed apart (the best honest model in hindsight).
WAYS = ("settled", "round0", "vote_all", "vote_honest")


def _values(runs: Iterable[RunResult], phase: str, way: str) -> list[float]:
    """Return one way's accuracy (percent) in each seed's run."""
    counts: list[Counts] = [r.counts[phase] for r in runs]
    return [c.best_single_pct() if way == "best_single" else c.pct(way) for c in counts]


def mean_pct(runs: Iterable[RunResult], phase: str, way: str) -> float:
    """Return one way's accuracy in percent, averaged over seeds."""
    return float(np.mean(_values(runs, phase, way)))


def _cell_name(cell: Cell) -> str:
    """Return the attack's name as the tables print it."""
    return cell.attack.split(":")[0]


def accuracy_rows(results: Results, phase: str) -> list[list[str]]:
    """Return per cell the accuracy of each way of answering (mean ± std over seeds) and the gaps."""
    rows = []
    for cell, runs in results.items():
        figures = []
        for way in (*WAYS, "best_single"):
            values = _values(runs, phase, way)
            figures.append(f"{np.mean(values):.1f} ± {np.std(values):.1f}")
        settled = mean_pct(runs, phase, "settled")
        vote_gap = settled - mean_pct(runs, phase, "vote_all")
        best_gap = settled - mean_pct(runs, phase, "best_single")
        rows.append(
            [_cell_name(cell), str(cell.fraction_pct), *figures, f"{vote_gap:+.1f}", f"{best_gap:+.1f}"]
        )
    return rows


def reputation_rows(results: Results) -> list[list[str]]:
    """Return per attacked cell the mean reputation of honest and attacking participants at the end."""
    rows = []
    for cell, runs in results.items():
        attacker = [r.attacker_reputation_bps for r in runs if r.attacker_reputation_bps is not None]
        honest = float(np.mean([r.honest_reputation_bps for r in runs]))
        rows.append(
            [
                _cell_name(cell),
                str(cell.fraction_pct),
                f"{honest:.0f}",
                f"{np.mean(attacker):.0f}" if attacker else "-",
            ]
        )
    return rows


@dataclass
class Targets:
    """The targets table being built, and its figures for the headline."""

    rows: list[list[str]] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)

    def add(
        self, name: str, phase: str, key: str, value: float, goal: str, met: bool, note: str = ""
    ) -> None:
        """Record one target: what was measured, the goal, and whether it was met."""
        self.figures[key] = round(value, 2)
        self.rows.append([name, phase, f"{value:+.2f}", goal, "met" if met else "MISSED", note])


def target_rows(results: Results) -> Targets:
    """Return the targets: 3 points over the best single model clean; near the majority vote at 10%/20%."""
    out = Targets()
    for phase in PHASES:
        clean = results.get(Cell(CLEAN, 0))
        if clean:
            gap = mean_pct(clean, phase, "settled") - mean_pct(clean, phase, "best_single")
            name = "settled - best single participant, no attackers"
            out.add(name, phase, f"{phase}_clean_gain_over_best_single_points", gap, ">= +3 points", gap >= 3)
        for fraction, limit in ((10, 2.0), (20, 5.0)):
            gaps = [
                (mean_pct(runs, phase, "settled") - mean_pct(runs, phase, "vote_all"), _cell_name(cell))
                for cell, runs in results.items()
                if cell.fraction_pct == fraction
            ]
            if gaps:
                worst, attack = min(gaps)
                name = f"settled - majority vote (all), {fraction}% malicious"
                key = f"{phase}_worst_gap_to_vote_{fraction}_pct_points"
                out.add(
                    name, phase, key, worst, f">= -{limit:.0f} points", worst >= -limit, f"worst: {attack}"
                )
    return out
