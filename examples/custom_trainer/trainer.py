"""A training step of your own, in JAX and optax, as a Synod fit function.

    synod worker run --task ID --key KEY --data digits:shard=0/3 \
        --trainer examples.custom_trainer.trainer:fit

Synod hands fit the round's global model as numpy arrays (per dense layer W of shape (fan_in,
fan_out), then b) and a config with the task's hyperparameters; fit trains them however it likes and
returns (new arrays, examples used, metrics). Synod turns the result into a quantized update,
commits to it and reveals it. This one is minibatch SGD with gradient clipping, written out below;
it loads its rows with Synod's loader from the worker's --data spec, but any loader would do.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from app.agents.usercode import load_fit_data

__all__ = ["fit"]

_CLIP_NORM = 1.0  # the global gradient norm a step may take


def _logits(layers: list[tuple[jax.Array, jax.Array]], x: jax.Array) -> jax.Array:
    """A dense stack: ReLU between layers, linear output."""
    *hidden, (w_out, b_out) = layers
    for w, b in hidden:
        x = jax.nn.relu(x @ w + b)
    return x @ w_out + b_out


def _loss(layers: list[tuple[jax.Array, jax.Array]], x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean cross-entropy of the batch."""
    return optax.softmax_cross_entropy_with_integer_labels(_logits(layers, x), y).mean()


@functools.cache
def _step(learning_rate: float) -> tuple[optax.GradientTransformation, object]:
    """The optimizer and a compiled step for one learning rate (compiled once, reused every round)."""
    optimizer = optax.chain(optax.clip_by_global_norm(_CLIP_NORM), optax.sgd(learning_rate))

    @jax.jit
    def step(layers, state, x, y):  # type: ignore[no-untyped-def]
        loss, grads = jax.value_and_grad(_loss)(layers, x, y)
        updates, state = optimizer.update(grads, state, layers)
        return optax.apply_updates(layers, updates), state, loss

    return optimizer, step


@functools.cache
def _rows(data_spec: str, schema: str) -> tuple[np.ndarray, np.ndarray]:
    """This worker's rows, read through the task's schema once."""
    shard = load_fit_data({"data": data_spec, "schema": schema})
    return shard.x, shard.y


def fit(parameters: list[np.ndarray], config: dict) -> tuple[list[np.ndarray], int, dict]:
    """Train the global model for config's epochs on this worker's rows; return the new arrays."""
    x, y = _rows(str(config["data"]), str(config["schema"]))
    layers = [
        (jnp.asarray(w), jnp.asarray(b)) for w, b in zip(parameters[::2], parameters[1::2], strict=True)
    ]
    optimizer, step = _step(float(config["learning_rate"]))
    state = optimizer.init(layers)
    rng = np.random.default_rng(int(config["seed"]))
    batch = int(config["batch_size"])
    loss = jnp.float32(0)
    for _ in range(int(config["local_epochs"])):
        order = rng.permutation(len(x))
        for start in range(0, len(x) - batch + 1, batch):  # whole batches: one compiled shape
            rows = order[start : start + batch]
            layers, state, loss = step(layers, state, x[rows], y[rows])
    arrays = [np.asarray(part) for layer in layers for part in layer]
    return arrays, len(x), {"loss": float(loss)}
