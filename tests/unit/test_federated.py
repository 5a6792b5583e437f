"""In-process federated rounds with the chain's integer formats (app/ml/federated.py)."""

from __future__ import annotations

import numpy as np

from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT
from app.ml.datasets import DataSpec, load_dataset, load_shard
from app.ml.federated import (
    compute_local_update,
    compute_round_config,
    compute_round_weights,
    simulate_rounds,
)
from app.ml.models import flatten, init_params
from app.ml.quantize import UPDATE_SPEC, WEIGHT_SPEC, dequantize, quantize
from app.ml.train import TrainConfig, evaluate, train_local

CONFIG = TrainConfig(optimizer="sgd", learning_rate=0.1, batch_size=32, epochs=1)


def initial_weights(arch: str = "logreg") -> np.ndarray:
    """Return the quantized Glorot start for digits."""
    return quantize(flatten(init_params(arch, 64, 10, seed=0)), WEIGHT_SPEC)


def test_local_update_is_the_quantized_training_step() -> None:
    shard = load_shard(DataSpec("digits", shard=1, shards=8, alpha=0.5))
    weights_q = initial_weights()
    update, count = compute_local_update("logreg", weights_q, shard.x, shard.y, CONFIG)
    assert update.dtype == np.int64 and update.shape == weights_q.shape and count == len(shard.y)
    assert np.all(np.abs(update) <= UPDATE_FORMAT.bound) and np.any(update != 0)
    start = dequantize(weights_q, WEIGHT_SPEC)
    trained, _ = train_local("logreg", start, shard.x, shard.y, CONFIG)
    # Training is deterministic on one machine, so the only gap is the half-ulp rounding of the update.
    gap = dequantize(update, UPDATE_SPEC) - np.clip(trained - start, -UPDATE_SPEC.clip, UPDATE_SPEC.clip)
    assert np.all(np.abs(gap) <= 2.0**-UPDATE_SPEC.scale_bits / 2 + 1e-7)


def test_local_update_is_clipped_to_the_update_bound() -> None:
    shard = load_shard(DataSpec("digits", shard=0, shards=8, alpha=0.5))
    # A large step moves some weights by more than 4.0, the update format's bound.
    reckless = TrainConfig(optimizer="sgd", learning_rate=1.0, batch_size=8, epochs=3)
    update, _ = compute_local_update("mlp:32", initial_weights("mlp:32"), shard.x, shard.y, reckless)
    assert np.abs(update).max() == UPDATE_FORMAT.bound


def test_round_weights_apply_the_weighted_mean_in_weight_units() -> None:
    weights_q = np.array([0, 100, -WEIGHT_FORMAT.bound], dtype=np.int64)
    updates = [(np.array([4, -4, -8]), 1), (np.array([8, 8, 8]), 3)]
    # Weighted mean (4 + 24) / 4 = 7, (-4 + 24) / 4 = 5, (-8 + 24) / 4 = 4; 16 weight units per update unit.
    expected = [7 * 16, 100 + 5 * 16, -WEIGHT_FORMAT.bound + 4 * 16]
    assert compute_round_weights(weights_q, updates).tolist() == expected


def test_round_configs_differ_per_round_and_worker() -> None:
    seeds = {compute_round_config(CONFIG, r, w).seed for r in range(3) for w in range(4)}
    assert len(seeds) == 12 and compute_round_config(CONFIG, 1, 2) == compute_round_config(CONFIG, 1, 2)


def test_fedavg_on_digits_beats_the_initial_weights_in_a_few_rounds() -> None:
    data = load_dataset("digits")
    shards = [load_shard(DataSpec("digits", shard=i, shards=8, alpha=0.5)) for i in range(8)]
    start = initial_weights()
    seen: list[tuple[int, float]] = []
    config = TrainConfig(optimizer="sgd", learning_rate=0.3, batch_size=32, epochs=1)
    final = simulate_rounds(
        "logreg", shards, start, config, 3, on_round=lambda r, w, seconds: seen.append((r, seconds))
    )
    assert [r for r, _ in seen] == [0, 1, 2] and all(seconds > 0 for _, seconds in seen)
    assert final.dtype == np.int64 and np.all(np.abs(final) <= WEIGHT_FORMAT.bound)
    before, _ = evaluate("logreg", dequantize(start, WEIGHT_SPEC), data.x_test, data.y_test)
    after, _ = evaluate("logreg", dequantize(final, WEIGHT_SPEC), data.x_test, data.y_test)
    assert before < 0.3 and after > 0.8
