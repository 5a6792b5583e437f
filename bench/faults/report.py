"""The campaign's summary table: one row per perturbation kind."""

from __future__ import annotations

from typing import Any

from bench.faults.campaign import KINDS, Outcome

__all__ = ["summarize", "markdown"]


def summarize(outcomes: list[Outcome]) -> list[list[Any]]:
    """perturbation, count, recovered, mean/max recovery seconds, lost txs, forks, broken invariants."""
    rows = []
    for kind in KINDS:
        mine = [o for o in outcomes if o.kind == kind]
        if not mine:
            continue
        times = [o.recover_s for o in mine if o.recover_s is not None]
        label = kind + (" (2 of 4 down)" if kind == "halt" else "")
        rows.append([
            label, len(mine), f"{sum(o.recovered for o in mine)}/{len(mine)}",
            round(sum(times) / len(times), 1) if times else "-", round(max(times), 1) if times else "-",
            sum(o.lost for o in mine), sum(o.forks for o in mine), sum(o.invariants for o in mine),
            sum(o.unindexed for o in mine),
        ])  # fmt: skip
    return rows


def markdown(columns: list[str], rows: list[list[Any]]) -> str:
    """The table as GitHub markdown."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
