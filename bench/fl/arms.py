"""The arms that run in this process: the centralized reference, in-process FedAvg, and the chain's slot.

Each is ``run_*(config, ...) -> ArmResult`` over the same FLConfig, so the on-chain arm plugs in as
one more function of that shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from app.ml.federated import simulate_rounds
from app.ml.quantize import WEIGHT_SPEC, dequantize
from app.ml.train import evaluate, train_centralized
from bench.fl.config import ArmResult, FLConfig, FLData

__all__ = ["CHAIN_NAME", "run_centralized", "run_chain", "run_inprocess"]

CHAIN_NAME = "on-chain FedAvg, integer (a)"
OnRound = Callable[[int, float], None]
OnStatus = Callable[[str], None]


def run_centralized(config: FLConfig, data: FLData) -> ArmResult:
    """Train on all training rows for rounds x local epochs epochs: the accuracy FedAvg aims at."""
    epochs = config.rounds * config.local_epochs
    dataset = data.dataset
    started = time.perf_counter()
    train = replace(config.train_config(), epochs=epochs)
    shape = config.input_shape
    weights = train_centralized(
        config.arch, dataset.x_train, dataset.y_train, dataset.n_classes, train, shape
    )
    seconds = time.perf_counter() - started
    accuracy, _ = evaluate(config.arch, weights, dataset.x_test, dataset.y_test, shape)
    return ArmResult(
        "centralized (train_centralized)",
        accuracy_pct=100 * accuracy,
        total_seconds=seconds,
        note=f"{epochs} epochs on all {len(dataset.y_train)} training rows",
    )


def run_inprocess(config: FLConfig, data: FLData, on_round: OnRound) -> ArmResult:
    """Run FedAvg in this process with the chain's int16 updates, integer mean and int32 weight step."""
    started = time.perf_counter()
    shards, start = data.shards, data.initial_weights_q
    dataset = data.dataset
    startup = time.perf_counter() - started
    accuracies: list[float] = []
    seconds: list[float] = []

    def record(round_index: int, weights_q: NDArray[np.int64], round_seconds: float) -> None:
        """Evaluate the new global weights (outside the round's timing) and report progress."""
        weights = dequantize(weights_q, WEIGHT_SPEC)
        accuracy, _ = evaluate(config.arch, weights, dataset.x_test, dataset.y_test, config.input_shape)
        accuracies.append(100 * accuracy)
        seconds.append(round_seconds)
        on_round(round_index + 1, 100 * accuracy)

    simulate_rounds(
        config.arch,
        shards,
        start,
        config.train_config(),
        config.rounds,
        on_round=record,
        input_shape=config.input_shape,
    )
    return ArmResult(
        "in-process FedAvg, integer (b)",
        accuracy_pct=accuracies[-1],
        total_seconds=time.perf_counter() - started,
        startup_seconds=startup,
        accuracy_pct_per_round=accuracies,
        round_seconds=seconds,
        note="int16 updates, integer mean by sample count, compute_next_weights",
    )


def run_chain(
    config: FLConfig, on_status: OnStatus | None = None, on_round: Callable[[int], None] | None = None
) -> ArmResult:
    """Run the same rounds through the tasks module and worker agents on a localnet (issue 5, part a)."""
    from bench.fl.chain import run_chain as run  # the chain's runtime, loaded only for --chain

    return run(config, on_status, on_round)
