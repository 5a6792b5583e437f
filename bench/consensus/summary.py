"""What the consensus bench reports: its tables, headline figures and notes, ready to print and save."""

from __future__ import annotations

from typing import Any

from bench.consensus.config import CLEAN, ConsConfig
from bench.consensus.experiments import Cell
from bench.consensus.report import (
    ACCURACY_COLUMNS,
    REPUTATION_COLUMNS,
    TARGET_COLUMNS,
    Results,
    accuracy_rows,
    mean_pct,
    reputation_rows,
    target_rows,
)

__all__ = ["Table", "compose"]

Table = tuple[str, str, list[str], list[list[str]]]


def _tables(results: Results) -> list[Table]:
    """Return (key, title, columns, rows) of every table, targets last."""
    targets = target_rows(results)
    return [
        (
            "cold",
            "First query (all reputations initial): settled accuracy % (mean ± std over seeds)",
            ACCURACY_COLUMNS,
            accuracy_rows(results, "cold"),
        ),
        (
            "warm",
            "After reputation warm-up: settled accuracy % on the later queries (mean ± std over seeds)",
            ACCURACY_COLUMNS,
            accuracy_rows(results, "warm"),
        ),
        (
            "reputation",
            "Mean reputation at the end of the query sequence",
            REPUTATION_COLUMNS,
            reputation_rows(results),
        ),
        ("targets", "Targets", TARGET_COLUMNS, targets.rows),
    ]


def _headline(results: Results) -> dict[str, Any]:
    """Return the named figures: clean accuracies by way of answering, and the target figures."""
    figures: dict[str, Any] = dict(target_rows(results).figures)
    clean = results.get(Cell(CLEAN, 0))
    if clean:
        for phase in ("cold", "warm"):
            for way in ("settled", "round0", "vote_all", "best_single"):
                figures[f"{phase}_clean_{way}_accuracy_pct"] = round(mean_pct(clean, phase, way), 2)
    return figures


def _notes(config: ConsConfig) -> list[str]:
    """Return the lines printed under the tables."""
    queries = f"queries of {config.query_size} test inputs"
    return [
        f"{config.participants} participants ({', '.join(config.archs)} in turn), each on its own "
        f"Dirichlet({config.alpha}) shard of {config.dataset}; {queries}; round 0 + {config.rounds} rounds, "
        f"{config.peer_sample} peers shown; revise trust {config.trust}, keep_bps {config.keep_bps}",
        "settled: the chain's tally after the last round (weight = stake x reputation_bps, x confidence); "
        "round 0 only: the tally before any revision; vote: one model one vote on the round-0 classes",
        "best single: the honest participant with the most correct answers on the same inputs (in hindsight)",
        f"cold: every query settled with reputation {config.initial_reputation_bps} for all (the first "
        f"query); warm: queries after the first {config.warmup_queries}, labels revealed after each, "
        f"reputation = integer moving average (window {config.reputation_window}) of accuracy bps",
    ]


def compose(results: Results, config: ConsConfig) -> tuple[list[Table], dict[str, Any]]:
    """Return the tables in print order, and the results file's body: headline, tables and notes."""
    tables = _tables(results)
    body: dict[str, Any] = dict(_headline(results))
    for key, title, columns, rows in tables:
        body[f"{key}_table"] = {"title": title, "columns": columns, "rows": rows}
    body["notes"] = _notes(config)
    return tables, body
