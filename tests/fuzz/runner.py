"""The fuzz campaign: each target in its own atheris process, then one summary table.

    python -m tests.fuzz [--target NAME|all] [--runs N] [--seconds S] [--smoke] [--save-seeds N]

A target's corpus starts from its seeds (tests/fuzz/corpus/<target>/) in a temp directory; libFuzzer
adds the inputs that found new coverage. Crash, timeout and out-of-memory inputs land in
bench/results/fuzz-artifacts/<target>/ (git-ignored); replay one with
`python -c "from tests.fuzz import fuzz_tx; fuzz_tx.test_one_input(open(PATH, 'rb').read())"`, fix
the bug, and commit the input under tests/fuzz/corpus/<target>/ as its regression test. The table
(target x executions x seconds x exec/s x crashes x corpus size) goes to bench/results/fuzz.json
(--smoke: fuzz-smoke.json).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import RESULTS_DIR, print_table, write_results

__all__ = ["TARGETS", "TargetRun", "main", "run_target"]

FUZZ_DIR = Path(__file__).resolve().parent
REPO_ROOT = FUZZ_DIR.parent.parent
CORPUS_DIR = FUZZ_DIR / "corpus"
ARTIFACTS_DIR = RESULTS_DIR / "fuzz-artifacts"
# Target -> libFuzzer -max_len: what one input may hold (a few txs, a socket read, a snapshot).
TARGETS = {"tx": 4096, "framing": 8192, "voteext": 2048, "snapshot": 2048, "query": 1024, "parsers": 1024}
SMOKE_RUNS = 600
RSS_LIMIT_MB = 2048
_STAT = re.compile(r"stat::(\w+):\s*(\d+)")
_PROGRESS = re.compile(r"^#(\d+)\s+(\w+)\s.*?corp: (\d+)")


@dataclass
class TargetRun:
    """One target's row of the table."""

    target: str
    executions: int
    seconds: float  # wall time, the worker's start-up included
    exec_per_sec: int  # over the fuzzing time only
    crashes: int
    corpus: int
    artifacts: list[str]


def _seed(target: str, corpus: Path) -> None:
    """Copy the target's committed seeds into its working corpus."""
    corpus.mkdir(parents=True)
    for seed in sorted((CORPUS_DIR / target).glob("*")):
        if seed.is_file():
            shutil.copy(seed, corpus / seed.name)


def _command(target: str, corpus: Path, artifacts: Path, runs: int, seconds: int) -> list[str]:
    """The worker's command line (nice 10: the machine is shared)."""
    flags = [
        f"-runs={runs}",
        f"-max_len={TARGETS[target]}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        "-timeout=60",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
    ]
    if seconds:
        flags.append(f"-max_total_time={seconds}")
    nice = ["nice", "-n", "10"] if shutil.which("nice") else []
    return [*nice, sys.executable, "-m", "tests.fuzz.worker", target, str(corpus), *flags]


def _follow(target: str, proc: subprocess.Popen[str]) -> tuple[dict[str, int], float]:
    """Echo a progress line every 2 s (overwritten in place); return libFuzzer's final stats and
    when fuzzing began (its INITED line: the worker's imports and chain set-up come before)."""
    stats: dict[str, int] = {}
    shown, started = 0.0, time.monotonic()
    assert proc.stderr is not None
    for line in proc.stderr:
        if m := _STAT.search(line):
            stats[m[1]] = int(m[2])
        elif (m := _PROGRESS.match(line)) and m[2] == "INITED":
            started = time.monotonic()
        elif m and (time.monotonic() - shown > 2 or m[2] == "DONE"):
            shown = time.monotonic()
            elapsed = max(shown - started, 1e-9)
            execs = int(m[1])
            rate = execs / elapsed
            sys.stdout.write(f"\r[{target}] {execs:>9} execs {rate:>7.0f}/s  corpus {m[3]:>5}  ({m[2]})  ")
            sys.stdout.flush()
        elif "ERROR: libFuzzer" in line or "Uncaught Python exception" in line or line.startswith(" === "):
            sys.stdout.write("\n" + line)
        elif line.startswith(("Traceback", "  File", "AssertionError", "    ")) or "Error" in line:
            sys.stdout.write(line)
    sys.stdout.write("\n")
    return stats, started


def _save_seeds(target: str, corpus: Path, count: int) -> None:
    """Commit-ready seeds: up to count of the corpus' inputs, spread over its sizes, kept by content."""
    inputs = sorted((p for p in corpus.iterdir() if p.is_file()), key=lambda p: (p.stat().st_size, p.name))
    step = max(1, len(inputs) // max(count, 1))
    for path in inputs[::step][:count]:
        shutil.copy(path, CORPUS_DIR / target / path.name)


def run_target(
    target: str, runs: int, seconds: int = 0, workdir: Path | None = None, save_seeds: int = 0
) -> TargetRun:
    """Fuzz one target for runs executions (or seconds, whichever ends first)."""
    with tempfile.TemporaryDirectory(prefix=f"synod-fuzz-{target}-", dir=workdir) as tmp:
        corpus = Path(tmp) / "corpus"
        _seed(target, corpus)
        artifacts = ARTIFACTS_DIR / target
        artifacts.mkdir(parents=True, exist_ok=True)
        before = set(artifacts.iterdir())
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        launched = time.monotonic()
        cmd = _command(target, corpus, artifacts, runs, seconds)
        proc = subprocess.Popen(
            cmd, cwd=tmp, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        stats, started = _follow(target, proc)
        code = proc.wait()
        ended = time.monotonic()
        elapsed = ended - launched
        fuzzing = max(ended - started, 1e-9)
        found = sorted(str(p) for p in set(artifacts.iterdir()) - before)
        if save_seeds and not found:
            _save_seeds(target, corpus, save_seeds)
        executions = stats.get("number_of_executed_units", 0)
        crashed = len(found) or int(code != 0)
        return TargetRun(
            target=target,
            executions=executions,
            seconds=round(elapsed, 1),
            exec_per_sec=int(executions / fuzzing),
            crashes=crashed,
            corpus=sum(1 for p in corpus.iterdir() if p.is_file()),
            artifacts=found,
        )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="all", choices=["all", *TARGETS])
    parser.add_argument("--runs", type=int, default=100_000, help="executions per target")
    parser.add_argument(
        "--seconds", type=int, default=0, help="stop each target after this long (0: no limit)"
    )
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_RUNS} runs per target (CI)")
    parser.add_argument(
        "--save-seeds", type=int, default=0, metavar="N", help="copy N corpus inputs into tests/fuzz/corpus"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the campaign, print and save the table; exit 1 if any target crashed."""
    args = _parse(argv)
    runs = SMOKE_RUNS if args.smoke else args.runs
    targets = list(TARGETS) if args.target == "all" else [args.target]
    rows = [run_target(t, runs, args.seconds, save_seeds=args.save_seeds) for t in targets]
    columns = ["target", "executions", "seconds", "exec/s", "crashes", "corpus"]
    table = [[r.target, r.executions, r.seconds, r.exec_per_sec, r.crashes, r.corpus] for r in rows]
    total = sum(r.executions for r in rows)
    print_table(f"Fuzz campaign: {total} executions", columns, table)
    for r in rows:
        for path in r.artifacts:
            print(f"{r.target}: crash input {path}")
    name = "fuzz-smoke" if args.smoke else "fuzz"
    path = write_results(
        name,
        {
            "command": "python -m tests.fuzz " + " ".join(argv if argv is not None else sys.argv[1:]),
            "atheris": _atheris_version(),
            "runs_per_target": runs,
            "seconds_per_target": args.seconds,
            "total_executions": total,
            "total_crashes": sum(r.crashes for r in rows),
            "columns": columns,
            "table": table,
            "targets": [asdict(r) for r in rows],
        },
    )
    print(f"wrote {path}")
    return 1 if any(r.crashes for r in rows) else 0


def _atheris_version() -> str:
    """The installed atheris version."""
    from importlib.metadata import version

    return version("atheris")
