"""The pure architecture spec (app/core/architectures.py): parsing, layouts, counts and refusals."""

from __future__ import annotations

import json
import math
import sys

import pytest

from app.core.architectures import (
    MAX_ARCH_CHARS,
    MAX_LAYERS,
    ArchitectureError,
    Block,
    InputShapeError,
    compute_layout,
    describe_arch,
    infer_n_classes,
    param_count,
    parse_arch,
    resolve_input_shape,
)

CNN = json.dumps(
    [
        {"type": "conv2d", "features": 8, "kernel": [3, 3]},
        {"type": "relu"},
        {"type": "max_pool", "window": [2, 2]},
        {"type": "flatten"},
        {"type": "dense", "features": 32},
        {"type": "relu"},
        {"type": "dense"},
    ]
)


def _spec(*layers: dict[str, object]) -> str:
    """Return the JSON of a layer list."""
    return json.dumps(list(layers))


def test_legacy_names_keep_their_counts_and_order() -> None:
    # The counts logreg and mlp always had: (fan_in + 1) * fan_out per dense layer.
    assert param_count("logreg", 64, 10) == 65 * 10
    assert param_count("mlp:64-32", 64, 10) == 65 * 64 + 65 * 32 + 33 * 10
    assert [b.name for b in compute_layout("mlp:16", (13,), 3)] == [
        "layer0.kernel",
        "layer0.bias",
        "layer2.kernel",
        "layer2.bias",
    ]
    assert parse_arch("logreg") == parse_arch(_spec({"type": "dense"}))


def test_cnn_layout_names_every_block_with_its_shape() -> None:
    assert compute_layout(CNN, (8, 8, 1), 10) == (
        Block("layer0.kernel", (3, 3, 1, 8)),
        Block("layer0.bias", (8,)),
        Block("layer4.kernel", (4 * 4 * 8, 32)),
        Block("layer4.bias", (32,)),
        Block("layer6.kernel", (32, 10)),
        Block("layer6.bias", (10,)),
    )
    assert param_count(CNN, 64, 10, (8, 8, 1)) == 80 + 128 * 32 + 32 + 330
    assert infer_n_classes(CNN, 64, param_count(CNN, 64, 7, (8, 8, 1)), (8, 8, 1)) == 7


@pytest.mark.parametrize(
    ("layer", "shape", "out"),
    [
        ({"type": "conv2d", "features": 4, "kernel": [3, 3], "padding": "VALID"}, (8, 8, 2), (6, 6, 4)),
        ({"type": "conv2d", "features": 4, "kernel": [3, 3], "stride": [2, 2]}, (7, 7, 1), (4, 4, 4)),
        ({"type": "conv1d", "features": 3, "kernel": [5], "padding": "VALID"}, (12, 2), (8, 3)),
        ({"type": "max_pool", "window": [2]}, (9, 3), (4, 3)),
        ({"type": "avg_pool", "window": [3, 3], "stride": [1, 1], "padding": "SAME"}, (5, 5, 2), (5, 5, 2)),
        ({"type": "layer_norm"}, (6, 4), (6, 4)),
        ({"type": "gelu"}, (6,), (6,)),
    ],
)
def test_each_layer_type_has_its_output_shape(
    layer: dict[str, object], shape: tuple[int, ...], out: tuple[int, ...]
) -> None:
    spec = _spec(layer, {"type": "flatten"}, {"type": "dense"})
    # The output layer's fan-in is the flattened output of the layer under test.
    *_, kernel, _bias = compute_layout(spec, shape, 2)
    assert kernel.shape == (math.prod(out), 2)


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        ("cnn", "unknown architecture"),
        ("[", "not valid JSON"),
        ("[]", "non-empty list"),
        ('{"type": "dense"}', "unknown architecture"),
        (_spec({"type": "dense", "features": 4}), "last dense layer is the output layer"),
        (_spec({"type": "relu"}), "last dense layer is the output layer"),
        (_spec({"type": "dense"}, {"type": "dense"}), "layer 0 features: required on every dense"),
        (_spec({"type": "conv3d"}, {"type": "dense"}), "layer 0 type: unknown layer type 'conv3d'"),
        (_spec({"kind": "dense"}), "layer 0 type: unknown layer type None"),
        ("[3]", "layer 0 type: each layer must be an object"),
        (_spec({"type": "dense", "units": 3}), "layer 0 units: unknown key for dense"),
        (_spec({"type": "relu", "features": 3}, {"type": "dense"}), "layer 0 features: unknown key for relu"),
        (_spec({"type": "conv2d", "kernel": [3, 3]}, {"type": "dense"}), "layer 0 features: required"),
        (
            _spec({"type": "conv2d", "features": 2, "kernel": [3]}, {"type": "dense"}),
            "layer 0 kernel: must be a list of 2",
        ),
        (
            _spec({"type": "conv1d", "features": 2, "kernel": 3}, {"type": "dense"}),
            "layer 0 kernel: must be a list of 1",
        ),
        (
            _spec({"type": "max_pool", "window": [2, 2, 2]}, {"type": "dense"}),
            "layer 0 window: must be a list of 1 or 2",
        ),
        (_spec({"type": "max_pool", "window": [2, 2], "stride": [1]}, {"type": "dense"}), "layer 0 stride"),
        (_spec({"type": "max_pool", "window": [2], "padding": "FULL"}, {"type": "dense"}), "layer 0 padding"),
        (_spec({"type": "dense", "features": 0}, {"type": "dense"}), "layer 0 features: must be an integer"),
        (
            _spec({"type": "dense", "features": True}, {"type": "dense"}),
            "layer 0 features: must be an integer",
        ),
        (
            _spec({"type": "dense", "features": "8"}, {"type": "dense"}),
            "layer 0 features: must be an integer",
        ),
        (
            _spec({"type": "dense", "features": 1 << 17}, {"type": "dense"}),
            "layer 0 features: must be an integer",
        ),
        (_spec({"type": "conv1d", "features": 2, "kernel": [0]}, {"type": "dense"}), r"layer 0 kernel\[0\]"),
        ('[{"type": "dense", "features": 8.0}, {"type": "dense"}]', "sizes must be integers"),
        ('[{"type": "dense", "features": NaN}, {"type": "dense"}]', "sizes must be integers"),
        ('[{"type": "dense", "type": "relu"}]', "repeats a key"),
        ("[" * 5000, "characters, the limit is"),
        (_spec(*[{"type": "relu"}] * MAX_LAYERS, {"type": "dense"}), f"the limit is {MAX_LAYERS}"),
    ],
)
def test_bad_specs_are_refused_naming_the_layer_and_field(arch: str, message: str) -> None:
    with pytest.raises(ArchitectureError, match=message):
        param_count(arch, 64, 10, (8, 8, 1))


def test_a_huge_integer_is_refused_whatever_the_digit_cap() -> None:
    arch = '[{"type": "dense", "features": ' + "9" * 1000 + '}, {"type": "dense"}]'
    with pytest.raises(ArchitectureError, match="layer 0 features: must be an integer"):
        parse_arch(arch)
    # A node run with a lower cap (PYTHONINTMAXSTRDIGITS) refuses the same spec, with another message.
    parse_arch.cache_clear()
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        with pytest.raises(ArchitectureError, match="not valid JSON"):
            parse_arch(arch)
    finally:
        sys.set_int_max_str_digits(previous)


def test_deeply_nested_json_within_the_length_cap_is_refused() -> None:
    arch = "[" * (MAX_ARCH_CHARS // 2) + "]" * (MAX_ARCH_CHARS // 2)
    with pytest.raises(ArchitectureError):
        parse_arch(arch)


@pytest.mark.parametrize(
    ("arch", "shape", "message"),
    [
        (CNN, (64,), r"layer 0 type: conv2d with a 2-D window needs \(H, W, C\), got \(64,\)"),
        (
            _spec({"type": "conv1d", "features": 2, "kernel": [3]}, {"type": "dense"}),
            (8, 8, 1),
            r"needs \(L, C\)",
        ),
        (_spec({"type": "dense"}), (8, 8, 1), "layer 0 type: dense needs a 1-D input"),
        (
            _spec(
                {"type": "conv2d", "features": 2, "kernel": [9, 9], "padding": "VALID"},
                {"type": "flatten"},
                {"type": "dense"},
            ),
            (8, 8, 1),
            "layer 0 window: .* larger than the input",
        ),
        (
            _spec({"type": "max_pool", "window": [9]}, {"type": "flatten"}, {"type": "dense"}),
            (8, 8),
            "layer 0 window",
        ),
        (
            _spec({"type": "dense"}, {"type": "flatten"}, {"type": "dense", "features": 4}),
            (64,),
            "last dense layer",
        ),
        (
            _spec(
                {"type": "flatten"},
                {"type": "dense", "features": 3},
                {"type": "layer_norm"},
                {"type": "dense"},
            ),
            (64,),
            None,
        ),
    ],
)
def test_shapes_that_do_not_fit_are_refused(arch: str, shape: tuple[int, ...], message: str | None) -> None:
    if message is None:
        assert param_count(arch, 64, 10, shape) == 64 * 3 + 3 + 6 + 4 * 10
        return
    with pytest.raises(ArchitectureError, match=message):
        param_count(arch, 64, 10, shape)


def test_fewer_than_two_classes_are_refused() -> None:
    with pytest.raises(ArchitectureError, match="n_classes >= 2"):
        param_count("logreg", 4, 1)


@pytest.mark.parametrize(
    ("n_features", "shape", "message"),
    [
        (64, (8, 8), None),
        (64, (), None),
        (64, (8, 9, 1), "has 72 values, n_features is 64"),
        (64, (0, 64), "each in"),
        (64, (2, 2, 2, 8), "1 to 3 sizes"),
        (0, (), "n_features >= 1"),
    ],
)
def test_input_shape_is_checked_against_n_features(
    n_features: int, shape: tuple[int, ...], message: str | None
) -> None:
    if message is None:
        assert resolve_input_shape(n_features, shape) == (shape or (n_features,))
        return
    with pytest.raises(InputShapeError, match=message):
        resolve_input_shape(n_features, shape)


def test_describe_arch_names_the_weighted_layers_and_pools() -> None:
    assert describe_arch(CNN).startswith("conv8-maxpool-dense32")
    assert describe_arch("mlp:64-32") == "mlp:64-32" and describe_arch("logreg") == "logreg"
    assert describe_arch("[not json") == "[not json"  # shown as it is, never a traceback
