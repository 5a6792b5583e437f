"""Federated rounds off chain, with the chain's own integer formats, aggregation and weight step.

A worker trains from the dequantized global weights and sends new - global as int16 fixed point
(UPDATE_SPEC); the rule in app.modules.tasks.aggregation combines the integer updates and
app.core.fixedpoint.compute_next_weights adds the result to the int32 global weights. The worker
agent calls compute_local_update; simulate_rounds runs whole rounds in one process, so accuracy can be
measured without a chain and compared with float FedAvg.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from app.core.fixedpoint import compute_next_weights
from app.ml.datasets import Shard
from app.ml.quantize import UPDATE_SPEC, WEIGHT_SPEC, dequantize, quantize_delta
from app.ml.train import StepCallback, TrainConfig, train_local
from app.modules.tasks.aggregation import Update, get_rule, make_params

__all__ = [
    "RoundCallback",
    "compute_local_update",
    "compute_round_config",
    "compute_round_weights",
    "simulate_rounds",
    "worker_id",
]

# Called after each round with (round index from 0, the new global weights, the round's wall seconds).
RoundCallback = Callable[[int, NDArray[np.int64], float], None]


def compute_local_update(
    arch: str,
    global_weights_q: NDArray[np.int64],
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    config: TrainConfig,
    input_shape: Sequence[int] = (),
    on_step: StepCallback | None = None,
) -> tuple[NDArray[np.int64], int]:
    """Return one worker's update (trained - global) in UPDATE_SPEC integers, and its sample count
    (on_step: told each step's progress, app.ml.train.train_local)."""
    start = dequantize(global_weights_q, WEIGHT_SPEC)
    trained, count = train_local(arch, start, x, y, config, input_shape, on_step)
    return quantize_delta(trained, start, UPDATE_SPEC), count


def compute_round_config(config: TrainConfig, round_index: int, worker: int) -> TrainConfig:
    """Return config with a shuffle seed of its own for (config.seed, round, worker), the same anywhere."""
    digest = hashlib.sha256(f"synod/federated/{config.seed}/{round_index}/{worker}".encode()).digest()
    return replace(config, seed=int.from_bytes(digest[:4], "big"))


def worker_id(worker: int) -> str:
    """Return the id a simulated worker's update carries (zero-padded, so id order is index order)."""
    return f"worker-{worker:04d}"


def compute_round_weights(
    weights_q: NDArray[np.int64],
    updates: Sequence[tuple[NDArray[np.int64], int]],
    rule: str = "mean",
    rule_params: Mapping[str, int] | None = None,
) -> NDArray[np.int64]:
    """Return the next global weights: the rule's aggregate of (update, sample count) pairs, applied."""
    params = make_params(rule, rule_params or {})
    batch = [Update(worker_id(i), update, count) for i, (update, count) in enumerate(updates)]
    return compute_next_weights(weights_q, get_rule(rule)(batch, params))


def simulate_rounds(
    arch: str,
    shards: Sequence[Shard],
    weights_q: NDArray[np.int64],
    config: TrainConfig,
    rounds: int,
    *,
    rule: str = "mean",
    rule_params: Mapping[str, int] | None = None,
    on_round: RoundCallback | None = None,
    input_shape: Sequence[int] = (),
) -> NDArray[np.int64]:
    """Return the global weights after rounds rounds in which every shard's worker takes part.

    Stateless rules only: centered clipping runs without history (median start, no momentum).
    """
    for round_index in range(rounds):
        started = time.perf_counter()
        updates = [
            compute_local_update(
                arch,
                weights_q,
                shard.x,
                shard.y,
                compute_round_config(config, round_index, worker),
                input_shape,
            )
            for worker, shard in enumerate(shards)
        ]
        weights_q = compute_round_weights(weights_q, updates, rule, rule_params)
        if on_round is not None:
            on_round(round_index, weights_q, time.perf_counter() - started)
    return weights_q
