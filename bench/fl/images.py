"""python -m bench.fl.images [--rounds 30] [--workers 8] [--flower] [--chain] [--smoke]: CNN vs MLP on images.

Two image workloads, each trained by the same arms as bench/fl (the centralized reference and
in-process FedAvg with the chain's integer formats; Flower's FedAvg with --flower; with --chain, the
rounds through a localnet's tasks module and `synod worker run` processes, for digits 8x8 only):

- ``digits 8x8``: scikit-learn's digits as (8, 8, 1) images (standardized pixels, a package dataset);
- ``shifted digits``: a generated image folder, each digit pasted at a random offset on a blank
  CANVAS x CANVAS canvas and saved as a PNG in its class folder, read back through app.ml.sources'
  image-folder reader (Pillow). The offset is what a dense layer cannot share across positions and
  a convolution with pooling can.

Both models are named in the task's JSON layer-list form, so this is also what a task would post.
Writes bench/results/fl-images.json (fl-images-chain.json with --chain, fl-images-smoke.json with
--smoke: 2 workers, 2 rounds, seconds).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.console import Console

from app.core.architectures import compute_layout
from app.demo.samples import digit_pages, write_image_folder
from app.ml.sources import is_file_source
from bench.common import print_table, write_results
from bench.fl.arms import CHAIN_NAME, run_centralized, run_chain, run_inprocess
from bench.fl.config import ArmResult, FLConfig, FLData

__all__ = ["CANVAS", "CNN", "MLP", "make_shifted_digits", "main"]

console = Console(stderr=True)
CANVAS = 12
MLP = json.dumps(
    [{"type": "flatten"}, {"type": "dense", "features": 64}, {"type": "relu"}, {"type": "dense"}]
)
CNN = json.dumps(
    [
        {"type": "conv2d", "features": 16, "kernel": [3, 3]},
        {"type": "relu"},
        {"type": "max_pool", "window": [2, 2]},
        {"type": "conv2d", "features": 32, "kernel": [3, 3]},
        {"type": "relu"},
        {"type": "max_pool", "window": [2, 2]},
        {"type": "flatten"},
        {"type": "dense", "features": 64},
        {"type": "relu"},
        {"type": "dense"},
    ]
)
COLUMNS = ["workload", "model", "params", "arm", "accuracy %", "first round s", "s/round after", "total s"]


def make_shifted_digits(root: Path, canvas: int = CANVAS, seed: int = 0) -> Path:
    """Write every digit at a seeded random offset on a canvas x canvas PNG, one folder per class."""
    return write_image_folder(root, *digit_pages(canvas, seed))


def _parse() -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.fl.images", description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--flower", action="store_true", help="also run Flower's FedAvg (its own venv)")
    parser.add_argument(
        "--chain",
        action="store_true",
        help="also run on chain (a 4-validator localnet; digits 8x8 only; minutes: use small --rounds)",
    )
    parser.add_argument("--smoke", action="store_true", help="2 workers, 2 rounds: checks that it runs")
    return parser.parse_args()


def _arms(config: FLConfig, args: argparse.Namespace) -> dict[str, ArmResult]:
    """Run the centralized reference, in-process FedAvg and, as asked, Flower and the chain on one config."""
    data = FLData(config)
    arms = {
        "centralized": run_centralized(config, data),
        "inprocess": run_inprocess(config, data, lambda _r, _a: None),
    }
    if args.flower:
        from bench.fl.flower import run_flower  # its venv is made on demand, minutes the first time

        arms["flower"] = run_flower(config, console.print, lambda _r, _a: None)
    if args.chain and is_file_source(config.dataset):
        # A task's evaluation data and the workers' shards name package datasets in bench/fl/chain.py.
        arms["chain"] = ArmResult(CHAIN_NAME, note="not run: the chain arm takes package datasets only")
    elif args.chain:
        arms["chain"] = run_chain(config, console.print)
    return arms


def _row(workload: str, model: str, config: FLConfig, arm: ArmResult) -> list[str]:
    """Return one table row."""
    params = FLData(config).param_count

    def fmt(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    first, steady = arm.first_round_seconds, arm.seconds_per_round
    return [
        workload,
        model,
        str(params),
        arm.name + (f" ({arm.note})" if arm.accuracy_pct is None else ""),
        fmt(arm.accuracy_pct),
        fmt(first, 3),
        fmt(steady, 3),
        fmt(arm.total_seconds),
    ]


def _workloads(folder: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Return each workload's data source and input shape."""
    return {"digits 8x8": ("digits", (8, 8, 1)), "shifted digits": (str(folder), (CANVAS, CANVAS, 1))}


def _key(workload: str) -> str:
    """Return the results-file prefix of a workload."""
    return workload.replace(" ", "_")


def _run_all(
    base: FLConfig, folder: Path, args: argparse.Namespace
) -> tuple[list[list[str]], dict[str, Any], list[Any]]:
    """Run both models on both workloads; return table rows, headline figures and every arm's record."""
    rows, figures, runs = [], {}, []
    for workload, (source, shape) in _workloads(folder).items():
        for model, arch in (("mlp", MLP), ("cnn", CNN)):
            config = replace(base, dataset=source, arch=arch, input_shape=shape)
            console.print(f"{workload}, {model}: {base.rounds} rounds, {base.workers} workers")
            arms = _arms(config, args)
            rows += [_row(workload, model, config, arm) for arm in arms.values()]
            for tag, arm in arms.items():
                figures[f"{_key(workload)}_{model}_{tag}_accuracy_pct"] = arm.accuracy_pct
                figures[f"{_key(workload)}_{model}_{tag}_seconds_per_round"] = arm.seconds_per_round
            runs.append({"workload": workload, "model": model, "arms": [asdict(a) for a in arms.values()]})
        cnn, mlp = (figures[f"{_key(workload)}_{m}_inprocess_accuracy_pct"] for m in ("cnn", "mlp"))
        figures[f"{_key(workload)}_inprocess_gain_cnn_over_mlp_points"] = round(cnn - mlp, 2)
    return rows, figures, runs


def main() -> None:
    """Run both models on both workloads, print the table, write the results file."""
    args = _parse()
    rounds, workers = (2, 2) if args.smoke else (args.rounds, args.workers)
    # One training setting for both models: SGD at 0.3, 2 local epochs a round (bench/fl's 0.1 and 1
    # epoch leave both models short of their centralized accuracy after 30 rounds on shifted digits).
    base = FLConfig(workers=workers, rounds=rounds, local_epochs=2, learning_rate=0.3)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="synod-images-") as tmp:
        rows, figures, runs = _run_all(base, make_shifted_digits(Path(tmp) / "shifted"), args)
    title = f"CNN vs MLP on images: FedAvg, {workers} workers, Dirichlet {base.alpha}, {rounds} rounds"
    print_table(title, COLUMNS, rows)
    settings = {
        **{k: v for k, v in asdict(base).items() if k not in ("dataset", "arch", "input_shape")},
        "canvas": CANVAS,
        "mlp": MLP,
        "cnn": CNN,
        "cnn_layout": [f"{b.name} {b.shape}" for b in compute_layout(CNN, (CANVAS, CANVAS, 1), 10)],
        "versions": {name: version(name) for name in ("jax", "flax", "optax", "numpy", "pillow")},
        "smoke": args.smoke,
    }
    result = {**figures, "settings": settings, "runs": runs, "table": {"columns": COLUMNS, "rows": rows}}
    # An on-chain run takes minutes a round-set, so it runs with smaller settings and files apart.
    name = "fl-images-smoke" if args.smoke else "fl-images-chain" if args.chain else "fl-images"
    path = write_results(name, result)
    console.print(f"wrote {path} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
