"""Named model architectures in JAX and their flat float32 parameter vector.

An architecture name is ``logreg`` (multinomial logistic regression) or ``mlp:H1-H2-...`` (dense
layers of the given widths with ReLU, then a linear output layer), e.g. ``mlp:64-32``. Parameters are
a tuple of (W, b) layers from input to output, W of shape (fan_in, fan_out).

Flat order, fixed because updates cross the chain as flat vectors: for each layer from input to
output, W flattened row-major (C order, index i * fan_out + j), then b.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike, NDArray

from app.core.architectures import (
    ARCHITECTURES,
    ArchitectureError,
    hidden_widths,
    infer_n_classes,
    layer_sizes,
    param_count,
)

__all__ = [
    "ARCHITECTURES",
    "ModelError",
    "ModelParams",
    "apply",
    "flatten",
    "infer_n_classes",
    "init_params",
    "layer_sizes",
    "param_count",
    "unflatten",
]

ModelParams = tuple[tuple[jax.Array, jax.Array], ...]

# The registry's pure part is shared with the chain, which sizes weight vectors without JAX.
ModelError = ArchitectureError


def init_params(arch: str, n_features: int, n_classes: int, seed: int) -> ModelParams:
    """Return Glorot-normal weights and zero biases for arch, drawn from seed."""
    sizes = layer_sizes(arch, n_features, n_classes)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(sizes) - 1)
    initializer = jax.nn.initializers.glorot_normal()
    return tuple(
        (initializer(key, (fan_in, fan_out), jnp.float32), jnp.zeros(fan_out, jnp.float32))
        for key, fan_in, fan_out in zip(keys, sizes, sizes[1:], strict=False)
    )


def apply(arch: str, params: ModelParams, x: jax.Array) -> jax.Array:
    """Return the logits of arch with params on the batch x of shape (n, n_features)."""
    hidden_widths(arch)  # rejects unknown names; every registered family is a dense stack
    *hidden, (w_out, b_out) = params
    for w, b in hidden:
        x = jax.nn.relu(x @ w + b)
    return x @ w_out + b_out


def flatten(params: ModelParams) -> NDArray[np.float32]:
    """Return the parameters as one float32 vector in the documented flat order."""
    return np.concatenate([np.asarray(part, np.float32).ravel() for layer in params for part in layer])


def unflatten(arch: str, flat: ArrayLike, n_features: int, n_classes: int) -> ModelParams:
    """Return the layers that flatten would turn into flat."""
    vector = np.asarray(flat, dtype=np.float32)
    expected = param_count(arch, n_features, n_classes)
    if vector.shape != (expected,):
        raise ModelError(
            f"{arch!r} with {n_features} features and {n_classes} classes needs "
            f"{expected} parameters, got shape {vector.shape}"
        )
    sizes = layer_sizes(arch, n_features, n_classes)
    layers, offset = [], 0
    for fan_in, fan_out in zip(sizes, sizes[1:], strict=False):
        w = vector[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
        offset += fan_in * fan_out
        layers.append((jnp.asarray(w), jnp.asarray(vector[offset : offset + fan_out])))
        offset += fan_out
    return tuple(layers)
