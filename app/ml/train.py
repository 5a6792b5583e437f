"""Local training with optax from a flat weight vector, evaluation, and a centralized reference."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from numpy.typing import ArrayLike, NDArray

from app.ml.models import ModelParams, apply, flatten, infer_n_classes, init_params, unflatten

__all__ = [
    "OPTIMIZERS",
    "StepCallback",
    "TrainConfig",
    "evaluate",
    "masked_loss",
    "train_centralized",
    "train_local",
]

# Told (steps done, steps in all) after each minibatch step: a worker's progress display.
StepCallback = Callable[[int, int], None]

OPTIMIZERS: dict[str, Callable[[float], optax.GradientTransformation]] = {
    "adam": optax.adam,
    "sgd": optax.sgd,
}


@dataclass(frozen=True)
class TrainConfig:
    """Local training hyperparameters: optimizer name, learning rate, batch size, epochs, shuffle seed."""

    optimizer: str = "sgd"
    learning_rate: float = 0.1
    batch_size: int = 32
    epochs: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        """Reject unknown optimizers and non-positive sizes."""
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(sorted(OPTIMIZERS))}"
            )
        if not (self.learning_rate > 0 and self.batch_size >= 1 and self.epochs >= 1):
            raise ValueError("learning_rate must be > 0, batch_size and epochs >= 1")


def masked_loss(
    arch: str,
    input_shape: tuple[int, ...],
    params: ModelParams,
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array,
) -> jax.Array:
    """Return the mean cross-entropy over the rows where mask is 1 (padding or topped-up rows: 0)."""
    losses = optax.softmax_cross_entropy_with_integer_labels(apply(arch, params, x, input_shape), y)
    return jnp.sum(losses * mask) / jnp.maximum(jnp.sum(mask), 1.0)


@functools.lru_cache(maxsize=32)
def _make_step(
    arch: str, input_shape: tuple[int, ...], optimizer: str, learning_rate: float
) -> tuple[optax.GradientTransformation, Callable[..., Any]]:
    """Return the optimizer and a jitted step (params, state, x, y, mask) -> (params, state).

    Cached by (spec, optimizer), so jit compiles each architecture once per batch shape.
    """
    transform = OPTIMIZERS[optimizer](learning_rate)

    @jax.jit
    def step(params, state, x, y, mask):  # type: ignore[no-untyped-def]
        grads = jax.grad(functools.partial(masked_loss, arch, input_shape))(params, x, y, mask)
        updates, state = transform.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return transform, step


def _unflatten_for(
    arch: str, flat: NDArray[np.float32], n_features: int, input_shape: Sequence[int]
) -> ModelParams:
    """Return the parameters of the flat vector of arch on rows of n_features values."""
    n_classes = infer_n_classes(arch, n_features, flat.shape[0], input_shape)
    return unflatten(arch, flat, n_features, n_classes, input_shape)


def train_local(
    arch: str,
    flat_weights: ArrayLike,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    config: TrainConfig,
    input_shape: Sequence[int] = (),
    on_step: StepCallback | None = None,
) -> tuple[NDArray[np.float32], int]:
    """Return the flat weights after config.epochs of minibatch training on (x, y), and len(x).

    x is (n, n_features); input_shape (empty: (n_features,)) is the shape each row is reshaped to;
    on_step, if given, is told (steps done, steps in all) after each step.
    """
    flat = np.asarray(flat_weights, dtype=np.float32)
    params = _unflatten_for(arch, flat, x.shape[1], input_shape)
    transform, step = _make_step(arch, tuple(input_shape), config.optimizer, config.learning_rate)
    state = transform.init(params)
    count = len(x)
    if count == 0 or len(y) != count:
        raise ValueError(f"need as many labels as samples and at least one, got {count} and {len(y)}")
    batch = min(config.batch_size, count)
    batches = -(-count // batch)
    rng = np.random.default_rng(config.seed)
    # Pad the last batch with masked rows so every step has one shape and jit compiles once.
    mask = (np.arange(batches * batch) < count).astype(np.float32).reshape(batches, batch)
    total, done = config.epochs * batches, 0
    for _ in range(config.epochs):
        order = np.resize(rng.permutation(count), batches * batch).reshape(batches, batch)
        for rows, weights in zip(order, mask, strict=True):
            params, state = step(params, state, x[rows], y[rows], weights)
            done += 1
            if on_step is not None:
                on_step(done, total)
    return flatten(params), count


def evaluate(
    arch: str,
    flat_weights: ArrayLike,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    input_shape: Sequence[int] = (),
) -> tuple[float, float]:
    """Return (accuracy in [0, 1], mean cross-entropy loss) of the flat weights on (x, y)."""
    flat = np.asarray(flat_weights, dtype=np.float32)
    params = _unflatten_for(arch, flat, x.shape[1], input_shape)
    logits = apply(arch, params, jnp.asarray(x), input_shape)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.asarray(y)).mean()
    correct = int(np.count_nonzero(np.asarray(jnp.argmax(logits, axis=1)) == y))
    return correct / len(y), float(loss)


def train_centralized(
    arch: str,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    n_classes: int,
    config: TrainConfig,
    input_shape: Sequence[int] = (),
) -> NDArray[np.float32]:
    """Return flat weights trained from init_params(seed=config.seed) on all of (x, y): the baseline."""
    initial = flatten(init_params(arch, x.shape[1], n_classes, config.seed, input_shape))
    weights, _ = train_local(arch, initial, x, y, config, input_shape)
    return weights
