"""Committee scoring (app/ml/scoring.py): exact basis points, the chain's weight step, batching."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from app.core.fixedpoint import WEIGHT_FORMAT, compute_next_weights
from app.ml.datasets import DataSpec, load_dataset, load_shard
from app.ml.federated import compute_local_update
from app.ml.models import flatten, init_params
from app.ml.quantize import UPDATE_SPEC, WEIGHT_SPEC, quantize
from app.ml.scoring import compute_accuracy_bps, score_model, score_round, score_updates
from app.ml.train import TrainConfig, evaluate

ONE = 1 << WEIGHT_FORMAT.scale_bits  # 1.0 in the weight format
UPDATE_ONE = 1 << UPDATE_SPEC.scale_bits  # 1.0 in the update format

# Two features, two classes. Logreg flat order: W (2 x 2) row-major, then b.
X = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.5], [0.5, 2.0], [3.0, 1.0], [1.0, 3.0]], np.float32)
Y = np.array([0, 1, 0, 1, 0, 0])
RIGHT = np.array([ONE, 0, 0, ONE, 0, 0])  # logit_c = x_c: predicts the larger feature
WRONG_UPDATE = np.array([-2 * UPDATE_ONE, UPDATE_ONE, UPDATE_ONE, -2 * UPDATE_ONE, 0, 0])  # RIGHT -> swapped


def test_hand_built_model_scores_exactly() -> None:
    # Predicts 0, 1, 0, 1, 0, 1: five of six right, floor(10^4 * 5 / 6) = 8333.
    assert score_model("logreg", RIGHT, X, Y) == 8333
    # RIGHT + WRONG_UPDATE = [[-1, 1], [1, -1]]: predicts the smaller feature, one of six right.
    assert score_updates("logreg", RIGHT, [WRONG_UPDATE], X, Y) == [1666]
    # W00 + 2.5: logit_0 - logit_1 = 3.5 x0 - x1, positive exactly on the rows labelled 0: all right.
    assert score_updates("logreg", RIGHT, [np.array([5 * UPDATE_ONE // 2, 0, 0, 0, 0, 0])], X, Y) == [10_000]


def test_updates_are_applied_with_the_chains_clipped_weight_step() -> None:
    # Near the weight bound the chain clips: w = bound, update +1.0 stays at bound, so nothing changes.
    weights = np.array([WEIGHT_FORMAT.bound, 0, 0, ONE, 0, 0])
    push = np.array([UPDATE_ONE, 0, 0, 0, 0, 0])
    expected = score_model("logreg", compute_next_weights(weights, push), X, Y)
    assert score_updates("logreg", weights, [push], X, Y) == [expected]
    assert expected == score_model("logreg", weights, X, Y)


def test_round_batches_match_one_model_at_a_time() -> None:
    data = load_dataset("wine")
    weights = quantize(flatten(init_params("mlp:8", data.n_features, data.n_classes, seed=1)), WEIGHT_SPEC)
    rng = np.random.default_rng(0)
    updates = rng.integers(-UPDATE_ONE, UPDATE_ONE, size=(5, weights.shape[0]))
    baseline, scores = score_round("mlp:8", weights, updates, data.x_val, data.y_val)
    assert baseline == score_model("mlp:8", weights, data.x_val, data.y_val)
    singles = [
        score_model("mlp:8", compute_next_weights(weights, update), data.x_val, data.y_val)
        for update in updates
    ]
    assert scores == singles and len(set(scores)) > 1
    assert score_updates("mlp:8", weights, [], data.x_val, data.y_val) == []
    # The rows may be device arrays already (a member scoring every round keeps them there).
    on_device = score_round("mlp:8", weights, updates, jnp.asarray(data.x_val), jnp.asarray(data.y_val))
    assert on_device == (baseline, scores)


def test_scores_agree_with_float_evaluation() -> None:
    data = load_dataset("digits")
    weights = quantize(flatten(init_params("logreg", 64, 10, seed=0)), WEIGHT_SPEC)
    accuracy, _ = evaluate("logreg", weights / 2.0**WEIGHT_SPEC.scale_bits, data.x_test, data.y_test)
    correct = round(accuracy * len(data.y_test))
    assert score_model("logreg", weights, data.x_test, data.y_test) == correct * 10_000 // len(data.y_test)


def test_a_trained_update_scores_above_its_sign_flip() -> None:
    data = load_dataset("digits")
    shard = load_shard(DataSpec("digits", shard=0, shards=2))
    weights = quantize(flatten(init_params("logreg", 64, 10, seed=0)), WEIGHT_SPEC)
    config = TrainConfig(learning_rate=0.1, epochs=2)
    update, _ = compute_local_update("logreg", weights, shard.x, shard.y, config)
    baseline, (good, flipped) = score_round("logreg", weights, [update, -update], data.x_val, data.y_val)
    assert good > baseline + 3000 and flipped < baseline


def test_bad_inputs_are_rejected() -> None:
    assert compute_accuracy_bps(2, 3) == 6666
    with pytest.raises(ValueError):
        compute_accuracy_bps(4, 3)
    with pytest.raises(ValueError, match="shape"):
        score_model("logreg", RIGHT, X, Y[:3])
