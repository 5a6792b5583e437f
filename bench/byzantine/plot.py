"""A heatmap per dataset: each rule's accuracy drop from clean FedAvg under each attack at 20% and 30%."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the bench may run without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.byzantine.config import ByzConfig  # noqa: E402
from bench.byzantine.experiments import CLEAN, Cell  # noqa: E402
from bench.byzantine.report import Results, summarize  # noqa: E402

__all__ = ["write_heatmap"]

FRACTIONS = (20, 30)


def _drop_matrix(results: Results, config: ByzConfig, dataset: str) -> tuple[np.ndarray, list[str]]:
    """Return (rules x attack@fraction) accuracy drops from the clean mean, and the column labels."""
    clean = summarize(results[Cell(dataset, CLEAN, 0, "mean", config.max_drop_bps)]).accuracy
    columns = [(a, f) for f in FRACTIONS if f in config.fractions_pct for a in config.attacks]
    matrix = np.array(
        [
            [
                clean - summarize(results[Cell(dataset, a, f, rule, config.max_drop_bps)]).accuracy
                for a, f in columns
            ]
            for rule in config.rules
        ]
    )
    return matrix, [f"{a.split(':')[0]} {f}%" for a, f in columns]


def write_heatmap(results: Results, config: ByzConfig, path: Path) -> Path:
    """Write the heatmaps (one row of panels per dataset) to path and return it."""
    figure, axes = plt.subplots(
        len(config.datasets), 1, figsize=(12, 3.2 * len(config.datasets)), squeeze=False
    )
    for axis, dataset in zip(axes[:, 0], config.datasets, strict=True):
        matrix, labels = _drop_matrix(results, config, dataset)
        image = axis.imshow(np.clip(matrix, 0, 40), cmap="Reds", vmin=0, vmax=40, aspect="auto")
        axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
        axis.set_yticks(range(len(config.rules)), config.rules, fontsize=8)
        for (i, j), value in np.ndenumerate(matrix):
            axis.text(j, i, str(round(value)), ha="center", va="center", fontsize=7)
        axis.set_title(
            f"{dataset}: accuracy points lost vs clean FedAvg (max_score_drop_bps={config.max_drop_bps})"
        )
        figure.colorbar(image, ax=axis, fraction=0.02)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
