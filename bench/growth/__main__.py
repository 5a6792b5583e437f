"""python -m bench.growth [--smoke] (see the package docstring)."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from app.modules.tasks.params import default_params
from bench.common import RESULTS_DIR, print_table, write_results
from bench.growth.endblock import Timing, measure_close
from bench.growth.limits import LIMIT_COLUMNS, design_limit_rows
from bench.growth.sizing import (
    BLOCK_MAX_BYTES,
    EARLY_CLOSE_BLOCKS,
    bound_label,
    compute_model_seconds,
    compute_round_size,
    format_bytes,
    is_refused,
)

RULES = ("mean", "median", "krum")
BOUND = default_params().max_aggregation_work
FULL = ((1_000, 10_000, 100_000, 1_000_000, 2_000_000), (4, 16, 64, 128))
SMOKE = ((1_000, 10_000), (4, 16))
# A cell predicted to run longer or to hold more than this is scaled from a measured one instead.
MAX_MEASURE_S, MAX_MEASURE_BYTES = 20.0, 6 << 30
# Under this predicted time a cell is timed best of three; above it, best of two (the first close at a
# size pays the page faults of fresh memory and can be several times slower: it is kept as "first").
REPEAT_BELOW_S, REPEATS, BIG_REPEATS = 1.0, 3, 2
DEFAULT_BLOCK_S = 0.54
CALIBRATION = "fl-large.json"
ANCHORS = (("fl.json", "logreg"), (CALIBRATION, "mlp:28000"))
MEASURED, ESTIMATED = "measured", "estimated (linear in work from the largest measured cell)"


@dataclass(frozen=True)
class Cell:
    """One (rule, d, n) cell; timing and model_s are None for a cell the chain refuses."""

    rule: str
    size: int
    workers: int
    work: int
    status: str
    timing: Timing | None
    model_s: float | None


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="d in (1k, 10k) x n in (4, 16), for CI")
    return p.parse_args()


def _read_result(name: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / name
    return json.loads(path.read_text()) if path.exists() else None


def _block_seconds() -> float:
    """The localnet's block interval at timeout_commit 200ms from bench/results/blocktime.json."""
    figures = _read_result("blocktime.json")
    rows = [row for row in (figures or {}).get("rows", []) if row[0] == "200ms"]
    return float(rows[0][1]) if rows else DEFAULT_BLOCK_S


def _reveal_rate() -> float:
    """Consensus bytes/s for reveals: fl-large.json's reveal bytes a round over its measured s/round."""
    figures = _read_result(CALIBRATION)
    assert figures is not None, f"bench/results/{CALIBRATION} calibrates transport: run python -m bench.fl"
    settings = figures["settings"]
    reveal = compute_round_size(settings["workers"], settings["param_count"]).reveal_bytes
    return reveal / figures["chain_seconds_per_round"]


def _working_bytes(rule: str, workers: int, size: int) -> int:
    """Memory a close holds: int16 payloads, int64 Updates and matrix, and (median, krum) a work copy."""
    per_entry = 2 + 8 + 8 + (0 if rule == "mean" else 8)
    return per_entry * workers * size


def _measure_cell(rule: str, d: int, n: int, anchor: tuple[int, Timing] | None) -> tuple[str, Timing]:
    """Time the cell's close, or scale it linearly in work from anchor (work, timing) if too big."""
    work = is_refused(rule, n, d)[1]
    ratio = work / anchor[0] if anchor else 0.0
    predicted = anchor[1].best_s * ratio if anchor else 0.0
    if anchor and (predicted > MAX_MEASURE_S or _working_bytes(rule, n, d) > MAX_MEASURE_BYTES):
        timing = anchor[1]
        return ESTIMATED, Timing(timing.first_s * ratio, timing.best_s * ratio, timing.rule_s * ratio)
    return MEASURED, measure_close(rule, n, d, REPEATS if predicted < REPEAT_BELOW_S else BIG_REPEATS)


def _measure_rule(
    rule: str, grid: tuple[tuple[int, ...], tuple[int, ...]], block_s: float, rate: float
) -> list[Cell]:
    """The rule's cells, run in order of work so a cell too big to time scales from the one before."""
    cells, anchor = [], None
    for work, d, n in sorted((is_refused(rule, n, d)[1], d, n) for d in grid[0] for n in grid[1]):
        if is_refused(rule, n, d)[0]:
            status = f"refused: max_aggregation_work ({work:,} ops > {bound_label()})"
            cells.append(Cell(rule, d, n, work, status, None, None))
            continue
        status, timing = _measure_cell(rule, d, n, anchor)
        if status == MEASURED:
            anchor = (work, timing)
        reveal = compute_round_size(n, d).reveal_bytes
        model_s = compute_model_seconds(reveal, timing.best_s, block_s, rate)[0]
        cells.append(Cell(rule, d, n, work, status, timing, model_s))
    return sorted(cells, key=lambda cell: (cell.size, cell.workers))


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.4f}" if seconds < 1 else f"{seconds:.2f}"


def _fmt_ms(seconds: float) -> str:
    milliseconds = seconds * 1e3
    return f"{milliseconds:.2f}" if milliseconds < 10 else f"{milliseconds:,.0f}"


def _growth_row(cell: Cell, block_s: float, rate: float) -> list[Any]:
    row = [cell.rule, f"{cell.size:,}", cell.workers]
    if cell.timing is None:  # the full reason is in the results file and the notes; the table is narrow
        return [*row, *["-"] * 9, f"refused: {cell.work / BOUND:.2f} x {bound_label()}"]
    size = compute_round_size(cell.workers, cell.size)
    _, floor, transport = compute_model_seconds(size.reveal_bytes, cell.timing.best_s, block_s, rate)
    row += [_fmt_ms(cell.timing.best_s), _fmt_ms(cell.timing.first_s), _fmt_ms(cell.timing.rule_s)]
    row += [
        format_bytes(size.round_bytes),
        f"{size.txs:,}",
        size.reveal_blocks,
        format_bytes(size.state_bytes),
    ]
    return [*row, _fmt_s(cell.model_s), f"{_fmt_s(floor)}|{_fmt_s(transport)}", cell.status.split(" (")[0]]


def _growth_table(cells: list[Cell], block_s: float, rate: float, out: dict[str, Any]) -> None:
    """Table 1: every (rule, d, n) cell."""
    columns = ["rule", "d", "n", "end-block ms", "first ms", "rule ms", "bytes", "txs", "blocks", "+state"]
    columns += ["MODEL s", "floor|transport s", "end-block is"]
    rows = [_growth_row(cell, block_s, rate) for cell in cells]
    title = "Cost of one FL round by rule, model size d and workers n (bytes, txs, blocks, state: per round)"
    print_table(title, columns, rows)
    out["growth_table"] = {"columns": columns, "rows": rows}


def _anchor_row(name: str, arch: str, figures: dict[str, Any], block_s: float, rate: float) -> list[Any]:
    """A bench/fl on-chain arm beside the model at that run's block interval and at today's."""
    d, n = figures["settings"]["param_count"], figures["settings"]["workers"]
    arm = next(a for a in figures["arms"] if a["name"].startswith("on-chain"))
    end_block = measure_close("mean", n, d, 1).best_s
    reveal = compute_round_size(n, d).reveal_bytes
    then = compute_model_seconds(reveal, end_block, arm["extra"]["block_seconds"], rate)[0]
    now = compute_model_seconds(reveal, end_block, block_s, rate)[0]
    measured = figures["chain_seconds_per_round"]
    label = f"{name} ({arch}, mean)" + (" = calibration" if name == CALIBRATION else "")
    spread = f"{min(arm['round_seconds']):.2f}-{max(arm['round_seconds']):.2f}"
    row = [label, f"{d:,}", n, f"{measured:.2f}", spread, f"{arm['extra']['block_seconds']:.2f}"]
    return [*row, f"{then:.2f}", f"{now:.2f}", f"{measured / then:.2f}", _fmt_s(end_block)]


def _anchors(block_s: float, rate: float, out: dict[str, Any]) -> None:
    """Table 2: the rounds bench/fl measured on the localnet, beside the model."""
    rows = []
    for name, arch in ANCHORS:
        figures = _read_result(name)
        if figures is not None:
            rows.append(_anchor_row(name, arch, figures, block_s, rate))
            key = name.removesuffix(".json").replace("-", "_")
            out[f"anchor_{key}_measured_s_per_round"] = float(rows[-1][3])
            out[f"anchor_{key}_measured_over_model"] = float(rows[-1][8])
    columns = ["measured on the localnet", "d", "n", "s/round", "rounds range", "block s then"]
    columns += ["model s (then)", f"model s ({block_s:.2f} s blocks)", "measured / model", "end-block s"]
    print_table("Measured on-chain rounds (bench/fl) beside the model", columns, rows)
    out["anchors_table"] = {"columns": columns, "rows": rows}


def _notes(cells: list[Cell], block_s: float, rate: float, out: dict[str, Any]) -> list[str]:
    """What is measured, estimated and modelled, and how well the model fits."""
    estimated = [f"{c.rule} {c.workers} x {c.size:,}" for c in cells if c.status == ESTIMATED]
    refused = [f"{c.rule} {c.workers} x {c.size:,} ({c.work:,} ops)" for c in cells if c.timing is None]
    bounds = {c.size: compute_round_size(c.workers, c.size) for c in cells}
    retention = ", ".join(
        f"d={d:,}: {format_bytes(r.state_bound_bytes)} ({r.kept_checkpoints} kept)" for d, r in bounds.items()
    )
    fit = out.get("anchor_fl_measured_over_model")
    fit_word = "no fl.json to check against" if fit is None else f"measured/model {fit:.2f}: "
    if fit is not None:
        fit_word += "a good fit" if abs(fit - 1) <= 0.15 else "a POOR fit"
    return [
        "end-block ms is MEASURED in-process (perf_counter; best of 3 where under 1 s, else of 2): decode "
        "n int16 updates, build Updates, the rule, compute_next_weights, encode, sha256. 'first' is the "
        "first close at that size in this process, which pays the page faults of fresh memory (a "
        "validator's first big round). 'rule ms' is the rule call alone (with its np.stack of the "
        "updates); the rest is decoding and copying (int16 -> int64, Update's frozen copy).",
        "estimated (scaled linearly in compute_work from the rule's largest measured cell): "
        f"{', '.join(estimated) or 'none'}.",
        "refused: max_aggregation_work (the chain refuses such a task at post time, ops > "
        + bound_label()
        + "; not run): "
        f"{', '.join(refused) or 'none'}.",
        "bytes = n x 2d reveals (mempool and blocks) + n x 4d checkpoint downloads; txs = n x (commit + "
        f"parts + closing reveal); blocks = ceil(n x 2d / {BLOCK_MAX_BYTES:,}) to carry the reveals, "
        "payload only (a lower bound); +state = the new checkpoint 4d (updates are deleted at close).",
        "state per task is bounded by the retention policy: kept checkpoints x 4d, kept = max(2, "
        f"checkpoint_retention_bytes 256 MiB // 4d), at most max_rounds + 1: {retention}.",
        f"MODEL round s = max({EARLY_CLOSE_BLOCKS} blocks x {block_s:.3f} s + end-block, n x 2d / "
        f"{rate / 1e6:.3f} MB/s). The rate is calibrated on {CALIBRATION} (its reveal bytes over its "
        "s/round), so that row matches by construction; fl.json (the floor regime) is the independent "
        f"check, {fit_word}. fl-large's 3 rounds spanned 61-143 s, so the rate is known to about 2x; the "
        "model leaves out training, checkpoint downloads and blocks slowing as they fill. Rows between "
        "the anchors are interpolation.",
    ]


def _headline(cells: list[Cell]) -> str:
    """The slowest close within the bounds, and each rule's close time scaled to the work bound."""
    run = [c for c in cells if c.timing is not None and c.status == MEASURED]
    slowest = max(run, key=lambda c: c.timing.best_s if c.timing else 0.0)
    assert slowest.timing is not None
    scaled = []
    for rule in RULES:
        top = max((c for c in run if c.rule == rule), key=lambda c: c.work)
        assert top.timing is not None
        per_bound = top.timing.best_s * BOUND / top.work
        scaled.append(f"{rule} {per_bound:.1f} s (from {top.workers} x {top.size:,})")
    return (
        f"headline: the slowest close the chain accepts here is {slowest.rule} {slowest.workers} x "
        f"{slowest.size:,}: {_fmt_s(slowest.timing.best_s)} s (first {_fmt_s(slowest.timing.first_s)} s) "
        f"at {slowest.work / BOUND:.3f} x {bound_label()} ops. "
        "Each rule's largest measured close scaled linearly to "
        f"the bound of {bound_label()} ops: {', '.join(scaled)}."
    )


def main() -> None:
    """Measure every cell, print the three tables and the notes, write bench/results/growth.json."""
    args = _parse()
    started = time.perf_counter()
    grid = SMOKE if args.smoke else FULL
    block_s, rate = _block_seconds(), _reveal_rate()
    settings = {"smoke": args.smoke, "sizes": grid[0], "workers": grid[1], "rules": RULES}
    out: dict[str, Any] = {"settings": {**settings, "block_seconds": block_s, "reveal_bytes_per_s": rate}}
    cells = [cell for rule in RULES for cell in _measure_rule(rule, grid, block_s, rate)]
    out["cells"] = [_cell_record(cell) for cell in cells]
    _growth_table(cells, block_s, rate, out)
    _anchors(block_s, rate, out)
    out["design_limits_table"] = {"columns": LIMIT_COLUMNS, "rows": design_limit_rows(RULES, FULL[1])}
    print_table("Design limits (default params)", LIMIT_COLUMNS, out["design_limits_table"]["rows"])
    out["notes"] = _notes(cells, block_s, rate, out)
    print("\n".join(f"- {note}" for note in out["notes"]))
    out["headline"] = _headline(cells)
    print(f"\n{out['headline']}")
    out["run_seconds"] = time.perf_counter() - started
    name = "growth-smoke" if args.smoke else "growth"  # a smoke run keeps the committed figures
    print(f"wrote {write_results(name, out)}")


def _cell_record(cell: Cell) -> dict[str, Any]:
    """The cell for the results file: its figures, timings (None if refused) and round size fields."""
    size = compute_round_size(cell.workers, cell.size)
    timing = asdict(cell.timing) if cell.timing else dict.fromkeys(("first_s", "best_s", "rule_s"))
    record = {key: value for key, value in asdict(cell).items() if key != "timing"}
    record |= {"end_block_s": timing.pop("best_s"), **timing, **asdict(size)}
    return record | {"round_bytes": size.round_bytes, "state_bound_bytes": size.state_bound_bytes}


if __name__ == "__main__":
    main()
