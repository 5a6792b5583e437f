"""Architectures in JAX through Flax linen, and their flat float32 parameter vector.

app/core/architectures.py parses a task's ``arch`` (``logreg``, ``mlp:H1-...`` or a JSON layer
list) and computes its layout: the ordered, named parameter blocks. Here the same parsed layers
become a Flax linen module whose submodule ``layer{i}`` is the spec's layer i, so the module's
parameter tree has exactly the layout's blocks (``layer0.kernel`` is ``params["layer0"]["kernel"]``).

Parameters are held as a tuple of arrays in layout order (ModelParams); ``apply`` turns them into
Flax's tree by block name. The flat vector is those arrays, each raveled in C order, concatenated:
the chain's count and Flax's tree agree by construction, and tests check it for every layer type.
Inputs are always (n, n_features); a task with an input_shape is reshaped to (n, *input_shape).

Why Flax linen: its Dense kernel is (fan_in, features) and its Conv kernel (*window, in, features),
the layout Synod's ``logreg``/``mlp`` weights always had, so old flat vectors keep their meaning
with no transposes; linen's parameters are a plain dict passed to a pure ``apply``, which fits
vectors that are averaged, quantized and sent as flat arrays. (Equinox keeps Linear as (out, in)
and Conv as (out, in, *window): every block would need a transpose on the way in and out.)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike, NDArray

from app.core.architectures import (
    ArchitectureError,
    Block,
    Layer,
    compute_layout,
    infer_n_classes,
    param_count,
    parse_arch,
    resolve_input_shape,
)

__all__ = [
    "ModelError",
    "ModelParams",
    "apply",
    "flatten",
    "from_arrays",
    "infer_n_classes",
    "init_params",
    "layout",
    "param_count",
    "split_blocks",
    "to_arrays",
    "unflatten",
]

ModelParams = tuple[jax.Array, ...]

# The registry's pure part is shared with the chain, which sizes weight vectors without JAX.
ModelError = ArchitectureError

_ACTIVATIONS = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
}


class _Network(nn.Module):
    """The Flax module of a parsed layer list; its submodule ``layer{i}`` is layer i."""

    layers: tuple[Layer, ...]
    n_classes: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Return the logits of the batch x of shape (n, *input_shape)."""
        for index, layer in enumerate(self.layers):
            x = self._layer(index, layer, x)
        return x

    def _layer(self, index: int, layer: Layer, x: jax.Array) -> jax.Array:
        """Return one layer's output on x."""
        name = f"layer{index}"
        if layer.type == "dense":
            width = self.n_classes if layer.features is None else layer.features
            return nn.Dense(width, kernel_init=nn.initializers.glorot_normal(), name=name)(x)
        if layer.type in ("conv1d", "conv2d"):
            assert layer.features is not None  # parse_arch requires it
            conv = nn.Conv(
                layer.features,
                layer.window,
                strides=layer.stride,
                padding=layer.padding,
                kernel_init=nn.initializers.glorot_normal(),
                name=name,
            )
            return conv(x)
        if layer.type == "max_pool":
            return nn.max_pool(x, layer.window, layer.stride, layer.padding)
        if layer.type == "avg_pool":
            return nn.avg_pool(x, layer.window, layer.stride, layer.padding)
        if layer.type == "flatten":
            return x.reshape(x.shape[0], -1)
        if layer.type == "layer_norm":
            return nn.LayerNorm(name=name)(x)
        return _ACTIVATIONS[layer.type](x)


def layout(arch: str, input_shape: Sequence[int], n_classes: int) -> tuple[Block, ...]:
    """Return the ordered parameter blocks of arch (app.core.architectures.compute_layout)."""
    return compute_layout(arch, input_shape, n_classes)


def _shape_of(arch: str, n_features: int, input_shape: Sequence[int]) -> tuple[int, ...]:
    """Return the resolved input shape after checking the architecture parses."""
    parse_arch(arch)
    return resolve_input_shape(n_features, input_shape)


@functools.lru_cache(maxsize=64)
def _network(arch: str, n_classes: int) -> _Network:
    """Return the Flax module of arch (cached: one module, so jit traces it once per spec)."""
    return _Network(parse_arch(arch), n_classes)


def _tree(blocks: Sequence[Block], arrays: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Return Flax's parameter tree of arrays named by the layout's blocks."""
    tree: dict[str, dict[str, Any]] = {}
    for block, array in zip(blocks, arrays, strict=True):
        module, _, leaf = block.name.partition(".")
        tree.setdefault(module, {})[leaf] = array
    return tree


def init_params(
    arch: str, n_features: int, n_classes: int, seed: int, input_shape: Sequence[int] = ()
) -> ModelParams:
    """Return Flax's initial parameters of arch (Glorot-normal kernels, zero biases) from seed."""
    shape = _shape_of(arch, n_features, input_shape)
    blocks = layout(arch, shape, n_classes)
    variables = _network(arch, n_classes).init(jax.random.PRNGKey(seed), jnp.zeros((1, *shape), jnp.float32))
    tree = variables.get("params", {})
    leaves = {f"{module}.{leaf}": array for module, arrays in tree.items() for leaf, array in arrays.items()}
    if {name: tuple(a.shape) for name, a in leaves.items()} != {b.name: b.shape for b in blocks}:
        raise ModelError(f"Flax's parameters of {arch[:40]!r} do not match the chain's layout")
    return tuple(leaves[b.name] for b in blocks)


def apply(arch: str, params: ModelParams, x: jax.Array, input_shape: Sequence[int] = ()) -> jax.Array:
    """Return the logits of arch with params on the batch x of shape (n, n_features)."""
    # Only shape-keeping layers may follow the output layer, so the last block is n_classes wide.
    n_classes = int(params[-1].shape[-1])
    shape = _shape_of(arch, int(x.shape[1]), input_shape)
    tree = _tree(layout(arch, shape, n_classes), params)
    return _network(arch, n_classes).apply({"params": tree}, x.reshape(-1, *shape))


def flatten(params: ModelParams) -> NDArray[np.float32]:
    """Return the parameters as one float32 vector in layout order, each block in C order."""
    return np.concatenate([np.asarray(part, np.float32).ravel() for part in params])


def to_arrays(
    arch: str, flat: ArrayLike, input_shape: Sequence[int], n_classes: int
) -> list[NDArray[np.float32]]:
    """Return the flat vector as one float32 numpy array per layout block, in layout order."""
    vector = np.asarray(flat, dtype=np.float32)
    blocks = layout(arch, input_shape, n_classes)
    expected = sum(block.size for block in blocks)
    if vector.shape != (expected,):
        raise ModelError(
            f"{arch[:40]!r} on inputs {tuple(input_shape)} with {n_classes} classes needs "
            f"{expected} parameters, got shape {vector.shape}"
        )
    return split_blocks(blocks, vector)


def split_blocks(blocks: Sequence[Block], flat: Any) -> list[Any]:
    """Return the slices of a flat numpy or jax vector shaped as the blocks (jit- and vmap-safe)."""
    parts, offset = [], 0
    for block in blocks:
        parts.append(flat[offset : offset + block.size].reshape(block.shape))
        offset += block.size
    return parts


def from_arrays(
    arch: str, arrays: Sequence[ArrayLike], input_shape: Sequence[int], n_classes: int
) -> NDArray[np.float32]:
    """Return the flat float32 vector of one array per layout block, refusing a wrong count or shape."""
    blocks = layout(arch, input_shape, n_classes)
    if len(arrays) != len(blocks):
        raise ModelError(f"{arch[:40]!r} has {len(blocks)} parameter blocks, got {len(arrays)} arrays")
    parts = []
    for block, array in zip(blocks, arrays, strict=True):
        part = np.asarray(array, dtype=np.float32)
        if part.shape != block.shape:
            raise ModelError(f"{block.name} must have shape {block.shape}, got {part.shape}")
        parts.append(part.ravel())
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def unflatten(
    arch: str, flat: ArrayLike, n_features: int, n_classes: int, input_shape: Sequence[int] = ()
) -> ModelParams:
    """Return the parameters that flatten would turn into flat."""
    shape = _shape_of(arch, n_features, input_shape)
    return tuple(jnp.asarray(a) for a in to_arrays(arch, flat, shape, n_classes))
