"""What a committee member attests: accuracies, in basis points, of the global model and of each update.

A candidate model is the global int32 weights plus one revealed int16 update, combined exactly as the
chain would (app.core.fixedpoint.compute_next_weights), then decoded to float32. Accuracy is
floor(10^4 x correct / rows). All candidates of a round are scored in one jitted, vmapped call, padded
to a power-of-two batch so a round with a different number of reveals rarely compiles again.
Evaluation rows may be passed as jax arrays, which then stay on the device between calls.

The direction test (score_directions) compares each update with a reference update: the global model
trained, with the task's own training settings, on the member's evaluation rows (FLTrust, Cao et al.
2021). It attests the integer cosine (app.core.fixedpoint.compute_cosine_bps) and each update's norm
relative to the round's median norm, both exact integers of the integer updates and reference.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike, NDArray

from app.core.fixedpoint import compute_cosine_bps, compute_next_weights, compute_norm_ratio_bps
from app.ml.models import apply, infer_n_classes, layout, split_blocks
from app.ml.quantize import UPDATE_SPEC, WEIGHT_SPEC, dequantize, quantize_delta
from app.ml.train import TrainConfig, train_local

__all__ = [
    "BPS",
    "compute_accuracy_bps",
    "compute_reference_update",
    "count_scoring_passes",
    "score_directions",
    "score_model",
    "score_round",
    "score_updates",
]

BPS = 10_000


def compute_accuracy_bps(correct: int, total: int) -> int:
    """Return floor(10^4 x correct / total), an accuracy in basis points."""
    if total <= 0 or not 0 <= correct <= total:
        raise ValueError(f"need 0 <= correct <= total and total > 0, got {correct} of {total}")
    return correct * BPS // total


@functools.lru_cache(maxsize=16)
def _make_counter(arch: str, input_shape: tuple[int, ...], n_classes: int) -> Callable[..., jax.Array]:
    """Return a jitted (flats (k, d), x, y) -> correct predictions per row of flats."""
    blocks = layout(arch, input_shape, n_classes)

    def count(flat: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
        """Return how many rows of x one flat parameter vector classifies as y."""
        params = tuple(split_blocks(blocks, flat))
        return jnp.sum(jnp.argmax(apply(arch, params, x, input_shape), axis=1) == y)

    return jax.jit(jax.vmap(count, in_axes=(0, None, None)))


def _count_correct(
    arch: str, weights_q: NDArray[np.int64], x: jax.Array, y: jax.Array, input_shape: Sequence[int]
) -> list[int]:
    """Return the correct-prediction count of each row of the (k, d) int32-format weight matrix."""
    rows = weights_q.shape[0]
    n_classes = infer_n_classes(arch, x.shape[1], weights_q.shape[1], input_shape)
    padded = 1 << max(0, rows - 1).bit_length()
    # Weights are within 2**24 in magnitude, so the float32 decoding is exact (as dequantize's).
    flats = np.zeros((padded, weights_q.shape[1]), dtype=np.float32)
    flats[:rows] = weights_q.astype(np.float64) / 2.0**WEIGHT_SPEC.scale_bits
    shape = tuple(input_shape) or (int(x.shape[1]),)
    counter = _make_counter(arch, shape, n_classes)
    counts = np.asarray(counter(jnp.asarray(flats), x, y))
    return [int(c) for c in counts[:rows]]


def _check_eval(x: ArrayLike, y: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Return x and y as device arrays after checking they are a non-empty matching pair."""
    # jnp.asarray leaves a jax.Array where it is, so a caller scoring every round passes its rows once.
    features, labels = jnp.asarray(x, dtype=jnp.float32), jnp.asarray(y, dtype=jnp.int32)
    if features.ndim != 2 or labels.shape != (features.shape[0],) or not labels.shape[0]:
        raise ValueError(f"need x of shape (n, features) and y of shape (n,), n > 0; got {features.shape}")
    return features, labels


def score_model(
    arch: str, weights_q: ArrayLike, x: ArrayLike, y: ArrayLike, input_shape: Sequence[int] = ()
) -> int:
    """Return the accuracy (basis points) of the int32-format global weights on (x, y)."""
    features, labels = _check_eval(x, y)
    weights = np.asarray(weights_q, dtype=np.int64)
    (correct,) = _count_correct(arch, weights[None, :], features, labels, input_shape)
    return compute_accuracy_bps(correct, labels.shape[0])


def score_updates(
    arch: str,
    weights_q: ArrayLike,
    updates_q: Sequence[ArrayLike] | NDArray[np.int64],
    x: ArrayLike,
    y: ArrayLike,
    input_shape: Sequence[int] = (),
) -> list[int]:
    """Return the accuracy (basis points) of weights + each int16-format update, applied as the chain does."""
    return score_round(arch, weights_q, updates_q, x, y, input_shape)[1]


def score_round(
    arch: str,
    weights_q: ArrayLike,
    updates_q: Sequence[ArrayLike] | NDArray[np.int64],
    x: ArrayLike,
    y: ArrayLike,
    input_shape: Sequence[int] = (),
) -> tuple[int, list[int]]:
    """Return (the global model's score, each update's score) from one batched evaluation."""
    features, labels = _check_eval(x, y)
    weights = np.asarray(weights_q, dtype=np.int64)
    updates = np.asarray(updates_q, dtype=np.int64).reshape(-1, weights.shape[0])
    # compute_next_weights broadcasts: row i is weights + update i, clipped exactly as on chain.
    candidates = np.concatenate([weights[None, :], compute_next_weights(weights, updates)])
    counts = _count_correct(arch, candidates, features, labels, input_shape)
    baseline, *scores = (compute_accuracy_bps(c, labels.shape[0]) for c in counts)
    return baseline, scores


def compute_reference_update(
    arch: str,
    weights_q: ArrayLike,
    x: ArrayLike,
    y: ArrayLike,
    config: TrainConfig,
    input_shape: Sequence[int] = (),
) -> NDArray[np.int64]:
    """Return the member's reference update: weights trained on (x, y) by config, in update integers."""
    features, labels = _check_eval(x, y)
    start = dequantize(np.asarray(weights_q, dtype=np.int64), WEIGHT_SPEC)
    trained, _ = train_local(
        arch, start, np.asarray(features), np.asarray(labels).astype(np.int64), config, input_shape
    )
    return quantize_delta(trained, start, UPDATE_SPEC)


def score_directions(
    updates_q: Sequence[ArrayLike] | NDArray[np.int64], reference_q: ArrayLike
) -> list[tuple[int, int]]:
    """Return per update (cosine with the reference, norm over the round's median norm), in basis points.

    The median is the upper median of the squared norms, so it is an honest update's as long as fewer
    than half of the updates are large.
    """
    reference = np.asarray(reference_q, dtype=np.int64)
    updates = [np.asarray(u, dtype=np.int64) for u in updates_q]
    squares = sorted(int(np.dot(u, u)) for u in updates)
    median_sq = squares[len(squares) // 2] if squares else 0
    return [(compute_cosine_bps(u, reference), compute_norm_ratio_bps(u, median_sq)) for u in updates]


def count_scoring_passes(updates: int, rows: int, reference_rows: int, epochs: int) -> int:
    """Return one member's scoring work in sample forward passes.

    Scoring evaluates the global model and each update on every row (one pass each); the reference
    update trains on reference_rows for epochs (forward and backward: three passes a row, as training
    is counted); the cosines and norms are one pass-equivalent per update.
    """
    return (updates + 1) * rows + 3 * epochs * reference_rows + updates
