"""Run a benchmark's --smoke mode as a user would and read the figures it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from app.node.toolchain import REPO_ROOT
from bench.common import RESULTS_DIR

__all__ = ["run_smoke"]


def run_smoke(module: str, results: str, timeout: int) -> tuple[dict[str, Any], str]:
    """Run `python -m MODULE --smoke`; return bench/results/RESULTS.json's figures and its stdout."""
    path = RESULTS_DIR / f"{results}.json"
    path.unlink(missing_ok=True)
    run = subprocess.run(
        [sys.executable, "-m", module, "--smoke"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(path.read_text()), run.stdout
