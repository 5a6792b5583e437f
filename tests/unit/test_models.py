"""Flax models built from the spec (app/ml/models.py): the library's parameters match app/core's layout."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from app.agents.taskspec import build_post_task, load_task_spec
from app.core.architectures import compute_layout, model_param_count, param_count
from app.ml.models import (
    ModelError,
    _network,
    apply,
    flatten,
    from_arrays,
    init_params,
    to_arrays,
    unflatten,
)
from app.ml.train import TrainConfig, evaluate, train_local

# One spec per layer type, each on an input shape it fits, with a layer of parameters before the output.
SPECS = {
    "dense": ([{"type": "dense", "features": 5}], (6,)),
    "conv1d": (
        [{"type": "conv1d", "features": 3, "kernel": [3], "stride": [2]}, {"type": "flatten"}],
        (8, 2),
    ),
    "conv2d": (
        [{"type": "conv2d", "features": 4, "kernel": [3, 2], "padding": "VALID"}, {"type": "flatten"}],
        (4, 4, 2),
    ),
    "max_pool": ([{"type": "max_pool", "window": [2, 2]}, {"type": "flatten"}], (4, 4, 2)),
    "avg_pool": (
        [{"type": "avg_pool", "window": [3], "stride": [1], "padding": "SAME"}, {"type": "flatten"}],
        (5, 3),
    ),
    "flatten": ([{"type": "flatten"}], (3, 4)),
    "layer_norm": ([{"type": "layer_norm"}, {"type": "flatten"}], (3, 4)),
    **{
        name: ([{"type": "dense", "features": 4}, {"type": name}], (6,))
        for name in ("relu", "tanh", "sigmoid", "gelu", "silu")
    },
}


def _arch(kind: str) -> tuple[str, tuple[int, ...]]:
    """Return the JSON spec (its layers, then the output layer) and the input shape for one layer type."""
    layers, shape = SPECS[kind]
    return json.dumps([*layers, {"type": "dense"}, {"type": "layer_norm"}]), shape


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_flax_parameters_equal_the_chain_layout(kind: str) -> None:
    arch, shape = _arch(kind)
    n_features = int(np.prod(shape))
    # Flax's own initialized tree, read without the layout's help.
    tree = _network(arch, 3).init(jax.random.PRNGKey(0), jnp.zeros((1, *shape)))["params"]
    library = {f"{m}.{leaf}": tuple(a.shape) for m, leaves in tree.items() for leaf, a in leaves.items()}
    chain = {b.name: b.shape for b in compute_layout(arch, shape, 3)}
    assert library == chain
    assert sum(int(np.prod(s)) for s in library.values()) == param_count(arch, n_features, 3, shape)
    logits = apply(arch, init_params(arch, n_features, 3, 0, shape), jnp.ones((2, n_features)), shape)
    assert logits.shape == (2, 3)


@pytest.mark.parametrize("kind", ["conv2d", "conv1d", "layer_norm", "dense"])
def test_flat_vector_round_trips_through_arrays(kind: str) -> None:
    arch, shape = _arch(kind)
    n_features = int(np.prod(shape))
    flat = flatten(init_params(arch, n_features, 3, 1, shape))
    arrays = to_arrays(arch, flat, shape, 3)
    assert [a.shape for a in arrays] == [b.shape for b in compute_layout(arch, shape, 3)]
    assert all(a.dtype == np.float32 for a in arrays)
    again = from_arrays(arch, arrays, shape, 3)
    assert again.dtype == np.float32 and np.array_equal(again, flat)
    assert all(
        np.array_equal(p, a) for p, a in zip(unflatten(arch, flat, n_features, 3, shape), arrays, strict=True)
    )


def test_blocks_are_c_order_slices_of_the_flat_vector() -> None:
    arch, shape = _arch("conv2d")
    flat = np.arange(param_count(arch, 32, 3, shape), dtype=np.float32)
    kernel = to_arrays(arch, flat, shape, 3)[0]
    assert kernel.shape == (3, 2, 2, 4) and kernel[0, 0, 1, 2] == 1 * 4 + 2
    assert np.array_equal(kernel.ravel(), flat[: kernel.size])


def test_wrong_arrays_are_refused() -> None:
    arch, shape = _arch("conv2d")
    arrays = to_arrays(arch, np.zeros(param_count(arch, 32, 3, shape)), shape, 3)
    with pytest.raises(ModelError, match="parameter blocks, got"):
        from_arrays(arch, arrays[:-1], shape, 3)
    with pytest.raises(ModelError, match="layer0.kernel must have shape"):
        from_arrays(arch, [arrays[0].T, *arrays[1:]], shape, 3)
    with pytest.raises(ModelError, match="needs .* parameters"):
        to_arrays(arch, np.zeros(5), shape, 3)


def test_a_cnn_trains_and_its_loss_falls() -> None:
    arch = json.dumps(
        [
            {"type": "conv2d", "features": 4, "kernel": [3, 3]},
            {"type": "relu"},
            {"type": "avg_pool", "window": [2, 2]},
            {"type": "flatten"},
            {"type": "dense"},
        ]
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 36)).astype(np.float32)
    y = (x.reshape(64, 6, 6)[:, :3].sum(axis=(1, 2)) > 0).astype(np.int64)
    start = flatten(init_params(arch, 36, 2, 0, (6, 6, 1)))
    _, loss_before = evaluate(arch, start, x, y, (6, 6, 1))
    trained, count = train_local(arch, start, x, y, TrainConfig("adam", 0.05, 16, 5), (6, 6, 1))
    _, loss_after = evaluate(arch, trained, x, y, (6, 6, 1))
    assert count == 64 and trained.shape == start.shape and loss_after < loss_before


def test_a_task_spec_file_may_write_the_layer_list_as_json() -> None:
    layers = [{"type": "conv2d", "features": 2, "kernel": [3, 3]}, {"type": "flatten"}, {"type": "dense"}]
    spec = load_task_spec({"model": {"arch": layers, "input_shape": [8, 8, 1]}})
    msg = build_post_task("synod1owner", spec)
    assert msg.model.arch == json.dumps(layers, separators=(",", ":"))
    assert tuple(msg.model.input_shape) == (8, 8, 1)
    assert len(msg.initial_weights) == 4 * model_param_count(msg.model) == 4 * (20 + 128 * 10 + 10)
