"""Run a benchmark's --smoke mode as a user would and read the figures it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from app.node.toolchain import REPO_ROOT
from bench.common import RESULTS_DIR

__all__ = ["run_smoke"]


def _committed() -> dict[str, bytes]:
    """Return the bytes of every results file a full run wrote, by name (smoke files left out)."""
    return {p.name: p.read_bytes() for p in RESULTS_DIR.iterdir() if p.is_file() and "-smoke." not in p.name}


def run_smoke(module: str, results: str, timeout: int) -> tuple[dict[str, Any], str]:
    """Run `python -m MODULE --smoke`; return bench/results/RESULTS.json's figures and its stdout.

    Fails when the run changed a committed results file: a smoke run writes only <name>-smoke files.
    """
    path = RESULTS_DIR / f"{results}.json"
    path.unlink(missing_ok=True)
    before = _committed()
    run = subprocess.run(
        [sys.executable, "-m", module, "--smoke"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    after = _committed()
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert not changed, f"{module} --smoke changed committed results: {changed}"
    return json.loads(path.read_text()), run.stdout
