"""Local training with optax from a flat weight vector, evaluation, and a centralized reference."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from numpy.typing import ArrayLike, NDArray

from app.ml.models import ModelParams, apply, flatten, infer_n_classes, init_params, unflatten

__all__ = ["OPTIMIZERS", "TrainConfig", "evaluate", "train_centralized", "train_local"]

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


def _masked_loss(arch: str, params: ModelParams, x: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
    """Return the mean cross-entropy over the rows where mask is 1 (padding rows have mask 0)."""
    losses = optax.softmax_cross_entropy_with_integer_labels(apply(arch, params, x), y)
    return jnp.sum(losses * mask) / jnp.maximum(jnp.sum(mask), 1.0)


@functools.lru_cache(maxsize=32)
def _make_step(
    arch: str, optimizer: str, learning_rate: float
) -> tuple[optax.GradientTransformation, Callable[..., Any]]:
    """Return the optimizer and a jitted step (params, state, x, y, mask) -> (params, state)."""
    transform = OPTIMIZERS[optimizer](learning_rate)

    @jax.jit
    def step(params, state, x, y, mask):  # type: ignore[no-untyped-def]
        grads = jax.grad(functools.partial(_masked_loss, arch))(params, x, y, mask)
        updates, state = transform.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return transform, step


def train_local(
    arch: str, flat_weights: ArrayLike, x: NDArray[np.float32], y: NDArray[np.int64], config: TrainConfig
) -> tuple[NDArray[np.float32], int]:
    """Return the flat weights after config.epochs of minibatch training on (x, y), and len(x)."""
    flat = np.asarray(flat_weights, dtype=np.float32)
    params = unflatten(arch, flat, x.shape[1], infer_n_classes(arch, x.shape[1], flat.shape[0]))
    transform, step = _make_step(arch, config.optimizer, config.learning_rate)
    state = transform.init(params)
    count = len(x)
    if count == 0 or len(y) != count:
        raise ValueError(f"need as many labels as samples and at least one, got {count} and {len(y)}")
    batch = min(config.batch_size, count)
    batches = -(-count // batch)
    rng = np.random.default_rng(config.seed)
    # Pad the last batch with masked rows so every step has one shape and jit compiles once.
    mask = (np.arange(batches * batch) < count).astype(np.float32).reshape(batches, batch)
    for _ in range(config.epochs):
        order = np.resize(rng.permutation(count), batches * batch).reshape(batches, batch)
        for rows, weights in zip(order, mask, strict=True):
            params, state = step(params, state, x[rows], y[rows], weights)
    return flatten(params), count


def evaluate(
    arch: str, flat_weights: ArrayLike, x: NDArray[np.float32], y: NDArray[np.int64]
) -> tuple[float, float]:
    """Return (accuracy in [0, 1], mean cross-entropy loss) of the flat weights on (x, y)."""
    flat = np.asarray(flat_weights, dtype=np.float32)
    params = unflatten(arch, flat, x.shape[1], infer_n_classes(arch, x.shape[1], flat.shape[0]))
    logits = apply(arch, params, jnp.asarray(x))
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.asarray(y)).mean()
    correct = int(np.count_nonzero(np.asarray(jnp.argmax(logits, axis=1)) == y))
    return correct / len(y), float(loss)


def train_centralized(
    arch: str, x: NDArray[np.float32], y: NDArray[np.int64], n_classes: int, config: TrainConfig
) -> NDArray[np.float32]:
    """Return flat weights trained from init_params(seed=config.seed) on all of (x, y): the baseline."""
    initial = flatten(init_params(arch, x.shape[1], n_classes, config.seed))
    weights, _ = train_local(arch, initial, x, y, config)
    return weights
