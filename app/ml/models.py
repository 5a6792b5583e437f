"""Named model architectures in JAX and their flat float32 parameter vector.

An architecture name is ``logreg`` (multinomial logistic regression) or ``mlp:H1-H2-...`` (dense
layers of the given widths with ReLU, then a linear output layer), e.g. ``mlp:64-32``. Parameters are
a tuple of (W, b) layers from input to output, W of shape (fan_in, fan_out).

Flat order, fixed because updates cross the chain as flat vectors: for each layer from input to
output, W flattened row-major (C order, index i * fan_out + j), then b.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike, NDArray

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

_WIDTHS = re.compile(r"[1-9]\d*(?:-[1-9]\d*)*")


class ModelError(ValueError):
    """Raised for an unknown architecture or a flat vector that does not fit it."""


def _logreg_widths(options: str | None) -> tuple[int, ...] | None:
    """Return no hidden layers for plain ``logreg``, None for anything else."""
    return () if options is None else None


def _mlp_widths(options: str | None) -> tuple[int, ...] | None:
    """Return the hidden widths of ``mlp:H1-H2-...``, None if they are malformed."""
    if options is None or not _WIDTHS.fullmatch(options):
        return None
    return tuple(int(width) for width in options.split("-"))


# Family name -> parser of the text after "family:" into hidden widths (None when malformed).
ARCHITECTURES = {"logreg": _logreg_widths, "mlp": _mlp_widths}


def _hidden_widths(arch: str) -> tuple[int, ...]:
    """Return the hidden layer widths that arch names."""
    family, sep, options = arch.partition(":")
    parse = ARCHITECTURES.get(family)
    widths = parse(options if sep else None) if parse else None
    if widths is None:
        raise ModelError(f"unknown architecture {arch!r}; use 'logreg' or 'mlp:H1-H2-...' like 'mlp:64-32'")
    return widths


def layer_sizes(arch: str, n_features: int, n_classes: int) -> tuple[int, ...]:
    """Return the widths from input to output, e.g. (64, 32, 10) for mlp:32 on digits."""
    if n_features < 1 or n_classes < 2:
        raise ModelError(f"need n_features >= 1 and n_classes >= 2, got {n_features} and {n_classes}")
    return (n_features, *_hidden_widths(arch), n_classes)


def param_count(arch: str, n_features: int, n_classes: int) -> int:
    """Return the length of the flat parameter vector."""
    sizes = layer_sizes(arch, n_features, n_classes)
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes, sizes[1:], strict=False))


def infer_n_classes(arch: str, n_features: int, size: int) -> int:
    """Return the class count for which arch on n_features inputs has size parameters."""
    hidden = (n_features, *_hidden_widths(arch))
    # Every layer but the last is fixed; the last has (fan_in + 1) * n_classes parameters.
    fixed = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(hidden, hidden[1:], strict=False))
    n_classes, rest = divmod(size - fixed, hidden[-1] + 1)
    if rest or n_classes < 2:
        raise ModelError(f"{size} parameters do not fit {arch!r} on {n_features} features")
    return n_classes


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
    _hidden_widths(arch)  # rejects unknown names; every registered family is a dense stack
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
