"""python -m bench.nearcopy [--smoke] (see the package docstring)."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.ml.attacks import AttackContext
from app.ml.attacks.near_copy import NearCopy
from app.ml.federated import compute_round_weights
from app.ml.quantize import UPDATE_SPEC, dequantize, quantize
from app.modules.committee.nearcopy import compute_cosine_bps
from app.modules.committee.params import default_params
from bench.byzantine.config import ByzConfig, World
from bench.common import print_table, write_results

DATASETS = ("digits", "breast_cancer")
NOISES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
SCALES = (1.0, 2.0, 0.5)
# (seeds, rounds, workers) of a full run and of a smoke run.
FULL, SMOKE = ((0, 1, 2), 12, 10), ((0,), 2, 4)


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.nearcopy", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="one seed, two rounds, four workers: for CI")
    return p.parse_args()


def _cos(a: NDArray[np.int64], b: NDArray[np.int64]) -> int:
    """The chain's exact cosine of two integer updates, in bps."""
    x, y = a.astype(object), b.astype(object)
    return compute_cosine_bps(int(x @ y), int(x @ x), int(y @ y))


def _copies(source: NDArray[np.int64], seed: int, into: dict[tuple[float, float], int]) -> None:
    """Keep the smallest cosine of each (noise, scale) near copy of source."""
    float_source = dequantize(source, UPDATE_SPEC)
    for noise in NOISES:
        for scale in SCALES:
            ctx = AttackContext(0, seed, float_source, [], [float_source], float_source)
            copy = quantize(NearCopy(noise=noise, scale=scale).craft_update(ctx), UPDATE_SPEC)
            key = (noise, scale)
            into[key] = min(into.get(key, 10_000), _cos(copy, source))


def _run(dataset: str, seeds: tuple[int, ...], rounds: int, workers: int) -> dict[str, Any]:
    """Honest FedAvg rounds: the largest honest cosines and the smallest near-copy cosines."""
    same = other = own = -10_000
    copies: dict[tuple[float, float], int] = {}
    for seed in seeds:
        world = World(ByzConfig(workers=workers, rounds=rounds, alpha=0.5), dataset, seed)
        weights, previous = world.initial, None
        for r in range(rounds):
            updates = [world.local_update(weights, r, w) for w in range(workers)]
            vectors = [u for u, _ in updates]
            for i in range(workers):
                for j in range(i + 1, workers):
                    same = max(same, _cos(vectors[i], vectors[j]))
                if previous is not None:
                    for j in range(workers):
                        value = _cos(vectors[i], previous[j])
                        own, other = (max(own, value), other) if i == j else (own, max(other, value))
                    _copies(previous[i], seed * 1_000 + r * 10 + i, copies)
            previous = vectors
            weights = compute_round_weights(weights, updates)
    return {
        "same_round_max_bps": same,
        "previous_other_max_bps": other,
        "previous_own_max_bps": own,
        "copies_min_bps": {f"noise={n}:scale={s}": v for (n, s), v in sorted(copies.items())},
    }


def main() -> None:
    """Run the bench, print its tables, write bench/results/nearcopy.json."""
    args = _parse()
    seeds, rounds, workers = SMOKE if args.smoke else FULL
    started = time.perf_counter()
    results = {d: _run(d, seeds, rounds, workers) for d in DATASETS}
    # A worker's own previous update is never compared (README "Near copies"): near convergence an
    # honest worker repeats its own direction, so only the other two columns bound the threshold.
    honest_max = max(max(r["same_round_max_bps"], r["previous_other_max_bps"]) for r in results.values())
    threshold = int(default_params().near_copy_threshold_bps)
    rows = [
        [d, r["same_round_max_bps"], r["previous_other_max_bps"], r["previous_own_max_bps"]]
        for d, r in results.items()
    ]
    print_table(
        "largest honest cosine (bps)",
        ["dataset", "same round", "previous round, other", "previous round, own (not compared)"],
        rows,
    )
    copy_rows = []
    for noise in NOISES:
        for scale in SCALES:
            key = f"noise={noise}:scale={scale}"
            values = [results[d]["copies_min_bps"][key] for d in DATASETS]
            copy_rows.append([noise, scale, *values, "yes" if min(values) >= threshold else "no"])
    print_table(
        f"smallest near-copy cosine (bps); caught at the default threshold {threshold}",
        ["noise", "scale", *DATASETS, "caught"],
        copy_rows,
    )
    out: dict[str, Any] = {
        "settings": {
            "smoke": args.smoke,
            "seeds": list(seeds),
            "rounds": rounds,
            "workers": workers,
            "alpha": 0.5,
            "arch": "logreg",
            "datasets": list(DATASETS),
        },
        "datasets": results,
        "honest_max_cosine_bps": honest_max,
        "near_copy_threshold_bps": threshold,
        "threshold_margin_bps": threshold - honest_max,
        "largest_noise_caught_at_every_scale": max(
            (n for n in NOISES if all(r[-1] == "yes" for r in copy_rows if r[0] == n)), default=None
        ),
        "noise_table": {"columns": ["noise", "scale", *DATASETS, "caught"], "rows": copy_rows},
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_results("nearcopy-smoke" if args.smoke else "nearcopy", out)
    print(
        f"headline: honest max cosine {honest_max} bps, threshold {threshold} bps "
        f"(margin {threshold - honest_max}); near copies caught up to noise "
        f"{out['largest_noise_caught_at_every_scale']}"
    )


if __name__ == "__main__":
    main()
