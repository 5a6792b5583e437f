"""One panel per attack: settled accuracy (cold and warm reputation) and the baselines by malicious share."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the bench may run without a display

import matplotlib.pyplot as plt  # noqa: E402

from bench.consensus.config import CLEAN, ConsConfig  # noqa: E402
from bench.consensus.experiments import Cell  # noqa: E402
from bench.consensus.report import Results, mean_pct  # noqa: E402

__all__ = ["write_plot"]

# (phase, way, label, style) of every line.
LINES = (
    ("cold", "settled", "settled, first query (initial reputation)", "o-"),
    ("warm", "settled", "settled, after reputation warm-up", "s-"),
    ("cold", "vote_all", "majority vote (all models), all queries", "x--"),
    ("cold", "vote_honest", "majority vote (honest models), all queries", "+:"),
    ("cold", "best_single", "best single participant, all queries", "v:"),
)


def _series(results: Results, attack: str, fractions: list[int], phase: str, way: str) -> list[float]:
    """Return one line's accuracy at each fraction (the clean cell at 0%)."""
    return [mean_pct(results[Cell(CLEAN, 0) if f == 0 else Cell(attack, f)], phase, way) for f in fractions]


def write_plot(results: Results, config: ConsConfig, path: Path) -> Path:
    """Write the panels to path and return it."""
    fractions = list(config.fractions_pct)
    figure, axes = plt.subplots(1, len(config.attacks), figsize=(5 * len(config.attacks), 4), squeeze=False)
    for axis, attack in zip(axes[0], config.attacks, strict=True):
        for phase, way, label, style in LINES:
            axis.plot(fractions, _series(results, attack, fractions, phase, way), style, label=label)
        axis.set_title(f"{attack.split(':')[0]}: {config.participants} participants, {config.dataset}")
        axis.set_xlabel("malicious participants %")
        axis.set_ylabel("accuracy %")
        axis.set_xticks(fractions)
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
