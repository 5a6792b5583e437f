"""The Flower arm from the bench's side: its own virtualenv, made on demand, and the simulation process.

Flower's simulation pulls in Ray, so it lives in bench/fl/flower_venv (ignored by git), never in
.venv (which holds flwr alone, the `flower` extra). That venv gets the repo's own pins of the ML
stack (pyproject's [ml] extra and numpy), so both arms train with the same JAX, optax and
scikit-learn. Whatever goes wrong here is returned as the arm's note instead of failing the bench.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from bench.fl.config import PROGRESS, ArmResult, FLConfig

__all__ = ["FLOWER_VERSION", "VENV", "FlowerUnavailable", "ensure_venv", "run_flower"]

# The version bench/results/fl.json was measured with; the `flower` extra (1.42.0) does not reach
# this venv.
FLOWER_VERSION = "1.41.0"
ROOT = Path(__file__).resolve().parents[2]
VENV = Path(__file__).resolve().parent / "flower_venv"
NAME = "Flower FedAvg, float (c)"
INSTALL_TIMEOUT_S = 1200
RUN_TIMEOUT_S = 900
# The packages app.ml.train, app.ml.models and app.ml.datasets (with its file sources) import; the arms
# must train with the same versions.
_TRAINING = {"numpy", "jax", "jaxlib", "optax", "scikit-learn", "flax", "pillow", "pyarrow"}
_LAUNCH = "import sys, pathlib; from bench.fl.flower_app import run; run(pathlib.Path(sys.argv[1]))"
# No telemetry or usage reports: this machine reaches no network but the package index.
_QUIET = {"FLWR_TELEMETRY_ENABLED": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}


class FlowerUnavailable(RuntimeError):
    """Raised when the Flower virtualenv cannot be made; the message is the arm's reason."""


def _requirements() -> list[str]:
    """Return Flower pinned, plus the repo's own pins of what app.ml trains with."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [*project["dependencies"], *project["optional-dependencies"]["ml"]]
    return [f"flwr[simulation]=={FLOWER_VERSION}", *[pin for pin in pins if pin.split("==")[0] in _TRAINING]]


def _last_line(text: str) -> str:
    """Return the last non-empty line of a tool's output, the one that usually names the failure."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def _pip(python: Path, args: list[str]) -> None:
    """Run pip in the venv, raising FlowerUnavailable with pip's last line on failure."""
    try:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *args],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise FlowerUnavailable(f"pip install {' '.join(args)} took over {INSTALL_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise FlowerUnavailable(f"pip install {' '.join(args)} failed: {_last_line(done.stderr)}")


def ensure_venv(on_status: Callable[[str], None]) -> Path:
    """Return the Flower venv's python, creating or updating the venv when its pins changed."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".synod-requirements"
    wanted = "\n".join(_requirements())
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        on_status(f"creating {VENV}")
        made = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True, text=True)
        if made.returncode != 0:
            raise FlowerUnavailable(f"python -m venv failed: {_last_line(made.stderr)}")
    on_status(f"installing flwr[simulation]=={FLOWER_VERSION} and the ML pins (a few minutes, once)")
    _pip(python, ["pip==25.3"])  # the pip that scripts/setup.sh uses
    _pip(python, _requirements())
    stamp.write_text(wanted)
    return python


def _collect(process: subprocess.Popen[str], log: Path, on_round: Callable[[int, float], None]) -> None:
    """Pass PROGRESS lines of the process's stdout to on_round and the other lines to log."""
    assert process.stdout is not None
    with log.open("a") as sink:
        for line in process.stdout:
            if line.startswith(PROGRESS):
                round_number, accuracy = line[len(PROGRESS) :].split()
                on_round(int(round_number), float(accuracy))
            else:
                sink.write(line)


def _simulate(python: Path, config: FLConfig, workdir: Path, on_round: Callable[[int, float], None]) -> Path:
    """Run the Flower simulation and return its result file, or raise FlowerUnavailable with a reason."""
    out, log = workdir / "result.json", workdir / "flower.log"
    env = {**os.environ, **_QUIET, "SYNOD_FL_CONFIG": config.to_json(), "PYTHONPATH": str(ROOT)}
    # Append mode for both writers (the child's stderr and _collect), so neither overwrites the other.
    with log.open("a") as errors:
        # A session of its own, so a timeout ends Ray's helper processes along with the driver.
        process = subprocess.Popen(
            [str(python), "-c", _LAUNCH, str(out)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
    expired = threading.Event()

    def stop() -> None:
        """End the simulation's process group once it has run too long."""
        expired.set()
        os.killpg(process.pid, signal.SIGKILL)

    watchdog = threading.Timer(RUN_TIMEOUT_S, stop)
    watchdog.start()
    try:
        _collect(process, log, on_round)
        code = process.wait()
    finally:
        watchdog.cancel()
    if expired.is_set():
        raise FlowerUnavailable(f"the Flower simulation ran over {RUN_TIMEOUT_S} s")
    if code != 0 or not out.exists():
        raise FlowerUnavailable(f"the Flower simulation exited with {code}: {_last_line(log.read_text())}")
    return out


def run_flower(
    config: FLConfig, on_status: Callable[[str], None], on_round: Callable[[int, float], None]
) -> ArmResult:
    """Run the Flower arm (making its venv first if needed); a failure becomes the arm's note."""
    try:
        python = ensure_venv(on_status)
        on_status("running Flower's simulation runtime (Ray backend)")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="synod-flower-") as workdir:
            result = json.loads(_simulate(python, config, Path(workdir), on_round).read_text())
        total = time.perf_counter() - started
    except FlowerUnavailable as error:
        return ArmResult(NAME, note=f"not run: {error}")
    versions = result["versions"]
    accuracies = result["accuracy_per_round"]
    return ArmResult(
        NAME,
        accuracy_pct=accuracies[-1],
        total_seconds=total,
        startup_seconds=result["startup_seconds"],
        accuracy_pct_per_round=accuracies,
        round_seconds=result["round_seconds"],
        note=f"flwr {versions['flwr']}, ray {versions['ray']}; one Ray actor per CPU",
    )
