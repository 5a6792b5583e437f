"""python -m bench.worstcase [--smoke] [--only NAME ...] (see the package docstring)."""

from __future__ import annotations

import argparse
import sys

from bench.common import print_table, write_results
from bench.worstcase.cases import CASES, Timings

BLOCK_INTERVAL_S = 0.54  # bench/results/blocktime.json at timeout_commit 200ms
METHODS = ("prepare", "process", "finalize", "commit", "verify_extension")


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.worstcase", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="every case at a small size, for CI")
    p.add_argument("--only", nargs="*", default=[], help="run only cases whose name contains one of these")
    return p.parse_args()


def _cell(t: Timings, method: str) -> str:
    """CPU seconds, then wall seconds where other processes made them differ by more than a tenth."""
    cpu, wall = t.cpu.get(method), t.seconds.get(method)
    if cpu is None or wall is None:
        return "-"
    return f"{cpu:.3f}" if wall <= cpu * 1.1 + 0.001 else f"{cpu:.3f} ({wall:.2f} wall)"


def _row(name: str, bounds: str, t: Timings) -> list[str]:
    worst = max(t.cpu.values(), default=0.0)
    verdict = "ok" if worst <= BLOCK_INTERVAL_S else "OVER"
    if not t.accepted:
        verdict = "rejected" if "finalize" not in t.seconds else f"{verdict} (unbounded, refused now)"
    return [name, bounds, t.block, *[_cell(t, m) for m in METHODS], verdict]


def main() -> int:
    args = _parse()
    chosen = [c for c in CASES if not args.only or any(o in c.name for o in args.only)]
    rows, results = [], {}
    for i, case in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {case.name} ...", file=sys.stderr, flush=True)
        t = case.run(args.smoke)
        rows.append(_row(case.name, case.bounds, t))
        results[case.name] = {
            "bounds": case.bounds,
            "block": t.block,
            "accepted": t.accepted,
            "seconds": t.seconds,
            "cpu_seconds": t.cpu,
        }
    columns = ["case", "bounded by", "block", *[f"{m} CPU s" for m in METHODS], f"vs {BLOCK_INTERVAL_S} s"]
    print_table(
        "Worst-case blocks at the default parameters (CPU seconds, one process, LevelDB)", columns, rows
    )
    name = "worstcase-smoke" if args.smoke else "worstcase"
    if not args.only or args.smoke:
        path = write_results(
            name, {"block_interval_s": BLOCK_INTERVAL_S, "columns": columns, "rows": rows, "cases": results}
        )
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
