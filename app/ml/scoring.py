"""What a committee member attests: accuracies, in basis points, of the global model and of each update.

A candidate model is the global int32 weights plus one revealed int16 update, combined exactly as the
chain would (app.core.fixedpoint.compute_next_weights), then decoded to float32. Accuracy is
floor(10^4 x correct / rows). All candidates of a round are scored in one jitted, vmapped call, padded
to a power-of-two batch so a round with a different number of reveals rarely compiles again.
Evaluation rows may be passed as jax arrays, which then stay on the device between calls.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike, NDArray

from app.core.fixedpoint import compute_next_weights
from app.ml.models import apply, infer_n_classes, layout, split_blocks
from app.ml.quantize import WEIGHT_SPEC

__all__ = ["BPS", "compute_accuracy_bps", "score_model", "score_round", "score_updates"]

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
