"""The model architecture registry's pure part: a parsed layer list, its parameter layout and count.

A task's ``arch`` is one of

- ``logreg``: multinomial logistic regression, the same as ``[{"type": "dense"}]``;
- ``mlp:H1-H2-...``: dense layers of the given widths with ReLU, then a linear output layer, the same
  as ``[{"type": "dense", "features": H1}, {"type": "relu"}, ..., {"type": "dense"}]``;
- a JSON layer list (``[`` first), e.g. ``[{"type": "conv2d", "features": 8, "kernel": [3, 3]},
  {"type": "relu"}, {"type": "max_pool", "window": [2, 2]}, {"type": "flatten"},
  {"type": "dense", "features": 32}, {"type": "relu"}, {"type": "dense"}]``.

Layers (keys other than these are refused; sizes are JSON integers in [1, MAX_DIM]):

- ``dense`` {features}: on a 1-D input. The last dense layer, and only it, omits ``features``: it is
  the output layer and its width is the task's n_classes. Only layers that keep a 1-D shape can
  follow it (activations, layer_norm, flatten), so the network's output is (n_classes,).
- ``conv1d`` / ``conv2d`` {features, kernel: [k] / [kh, kw], stride (default 1s), padding "SAME"
  (default) or "VALID"}: on (L, C) / (H, W, C) inputs, channels last.
- ``max_pool`` / ``avg_pool`` {window: [w] or [wh, ww], stride (default the window), padding "VALID"
  (default) or "SAME"}: the window's length picks 1-D (input (L, C)) or 2-D (input (H, W, C)).
- ``flatten``: any input to 1-D, row-major.
- activations ``relu``, ``tanh``, ``sigmoid``, ``gelu``, ``silu``: no keys.
- ``layer_norm``: over the last axis, with a scale and a bias of that axis' width.

The input shape is the task's ModelSpec.input_shape, or (n_features,) when that is empty.

Layout: the ordered parameter blocks, ``layer{i}.kernel`` then ``layer{i}.bias`` for dense and conv
(kernel (fan_in, features) and (*kernel, in_channels, features)), ``layer{i}.scale`` then
``layer{i}.bias`` for layer_norm, i the layer's index in the list. The flat weight vector is the
blocks in order, each in C order; for ``logreg`` and ``mlp`` this is the order they always had.

Parsing is bounded: at most MAX_ARCH_CHARS characters and MAX_LAYERS layers, so a spec costs O(its
length) to parse and to size, whatever its content.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "ACTIVATIONS",
    "MAX_ARCH_CHARS",
    "MAX_DIM",
    "MAX_INPUT_RANK",
    "MAX_LAYERS",
    "ArchitectureError",
    "Block",
    "InputShapeError",
    "Layer",
    "ModelSpecLike",
    "compute_layout",
    "describe_arch",
    "infer_n_classes",
    "model_param_count",
    "param_count",
    "parse_arch",
    "resolve_input_shape",
]

MAX_ARCH_CHARS = 4096
MAX_LAYERS = 64
MAX_DIM = 1 << 16
MAX_INPUT_RANK = 3
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "silu")
_PADDINGS = ("SAME", "VALID")
_WIDTHS = re.compile(r"[1-9]\d{0,4}(?:-[1-9]\d{0,4})*")
# Keys each layer type accepts beside "type"; the first tuple is required.
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dense": ((), ("features",)),
    "conv1d": (("features", "kernel"), ("stride", "padding")),
    "conv2d": (("features", "kernel"), ("stride", "padding")),
    "max_pool": (("window",), ("stride", "padding")),
    "avg_pool": (("window",), ("stride", "padding")),
    "flatten": ((), ()),
    "layer_norm": ((), ()),
    **{name: ((), ()) for name in ACTIVATIONS},
}


class ArchitectureError(ValueError):
    """Raised for an architecture that does not parse or whose shapes do not fit its input."""


class InputShapeError(ArchitectureError):
    """Raised for an input shape that is malformed or whose product is not n_features."""


class ModelSpecLike(Protocol):
    """What sizes a model: a task's ModelSpec, or anything with the same fields."""

    @property
    def arch(self) -> str: ...
    @property
    def n_features(self) -> int: ...
    @property
    def n_classes(self) -> int: ...
    @property
    def input_shape(self) -> Sequence[int]: ...


@dataclass(frozen=True)
class Layer:
    """One parsed layer: type, width (None: the output layer), window (conv kernel or pool), stride."""

    type: str
    features: int | None = None
    window: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: str = ""


@dataclass(frozen=True)
class Block:
    """One named parameter block of the layout and its shape."""

    name: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Return the number of parameters in the block."""
        return math.prod(self.shape)


def _fail(index: int, field: str, what: str) -> ArchitectureError:
    """Return the error for a bad field of layer index."""
    return ArchitectureError(f"layer {index} {field}: {what}")


def _dim(index: int, field: str, value: object) -> int:
    """Return value if it is an integer in [1, MAX_DIM] (booleans and floats are refused)."""
    if type(value) is not int or not 1 <= value <= MAX_DIM:
        raise _fail(index, field, f"must be an integer in [1, {MAX_DIM}], got {value!r}")
    return value


def _dims(index: int, field: str, value: object, lengths: tuple[int, ...]) -> tuple[int, ...]:
    """Return value as a tuple of dims if it is a list of one of the given lengths."""
    if not isinstance(value, list) or len(value) not in lengths:
        want = " or ".join(str(n) for n in lengths)
        raise _fail(index, field, f"must be a list of {want} integers, got {value!r}")
    return tuple(_dim(index, f"{field}[{i}]", v) for i, v in enumerate(value))


def _parse_layer(index: int, raw: object) -> Layer:
    """Return one layer of the JSON list, refusing unknown types and keys and bad sizes."""
    if not isinstance(raw, dict):
        raise _fail(index, "type", f"each layer must be an object, got {raw!r}")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in _KEYS:
        raise _fail(index, "type", f"unknown layer type {kind!r}; use one of {', '.join(_KEYS)}")
    required, optional = _KEYS[kind]
    unknown = sorted(set(raw) - {"type", *required, *optional})
    if unknown:
        raise _fail(index, unknown[0], f"unknown key for {kind}")
    for key in required:
        if key not in raw:
            raise _fail(index, key, f"required for {kind}")
    features = _dim(index, "features", raw["features"]) if "features" in raw else None
    if kind not in ("conv1d", "conv2d", "max_pool", "avg_pool"):
        return Layer(kind, features)
    spatial = {"conv1d": (1,), "conv2d": (2,)}.get(kind, (1, 2))
    window_key = "window" if kind.endswith("pool") else "kernel"
    window = _dims(index, window_key, raw[window_key], spatial)
    stride = _dims(index, "stride", raw["stride"], (len(window),)) if "stride" in raw else None
    padding = raw.get("padding", "VALID" if kind.endswith("pool") else "SAME")
    if padding not in _PADDINGS:
        raise _fail(index, "padding", f"must be 'SAME' or 'VALID', got {padding!r}")
    default_stride = window if kind.endswith("pool") else (1,) * len(window)
    return Layer(kind, features, window, stride or default_stride, padding)


def _refuse_float(text: str) -> float:
    """json hook: sizes are integers, so a number with a fraction or exponent is refused."""
    raise ArchitectureError(f"sizes must be integers, got {text}")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """json hook: refuse an object that repeats a key (which one wins is parser-dependent)."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ArchitectureError(f"a layer repeats a key: {sorted(keys)}")
    return dict(pairs)


def _parse_json(arch: str) -> tuple[Layer, ...]:
    """Return the layers of a JSON layer list."""
    if len(arch) > MAX_ARCH_CHARS:
        raise ArchitectureError(f"architecture JSON is {len(arch)} characters, the limit is {MAX_ARCH_CHARS}")
    try:
        raw = json.loads(
            arch, parse_float=_refuse_float, parse_constant=_refuse_float, object_pairs_hook=_unique_keys
        )
    except ArchitectureError:
        raise
    except (ValueError, RecursionError) as e:  # ValueError: bad JSON, or an int past Python's digit cap
        raise ArchitectureError(f"architecture is not valid JSON: {e}") from None
    if not isinstance(raw, list) or not raw:
        raise ArchitectureError("architecture JSON must be a non-empty list of layers")
    if len(raw) > MAX_LAYERS:
        raise ArchitectureError(f"architecture has {len(raw)} layers, the limit is {MAX_LAYERS}")
    layers = tuple(_parse_layer(i, layer) for i, layer in enumerate(raw))
    dense = [i for i, layer in enumerate(layers) if layer.type == "dense"]
    if not dense or layers[dense[-1]].features is not None:
        raise ArchitectureError("the last dense layer is the output layer: give it no 'features'")
    for i in dense[:-1]:
        if layers[i].features is None:
            raise _fail(i, "features", "required on every dense layer but the last")
    return layers


@functools.lru_cache(maxsize=256)
def parse_arch(arch: str) -> tuple[Layer, ...]:
    """Return the layers arch names: a JSON layer list, ``logreg`` or ``mlp:H1-H2-...``."""
    if arch.startswith("["):
        return _parse_json(arch)
    family, sep, options = arch.partition(":")
    if arch == "logreg":
        return (Layer("dense"),)
    if family == "mlp" and sep and _WIDTHS.fullmatch(options):
        hidden = [(Layer("dense", int(width)), Layer("relu")) for width in options.split("-")]
        return (*(layer for pair in hidden for layer in pair), Layer("dense"))
    raise ArchitectureError(
        f"unknown architecture {arch[:40]!r}; use 'logreg', 'mlp:H1-H2-...' like 'mlp:64-32', "
        "or a JSON layer list"
    )


_SHORT = {"conv1d": "conv1d-", "conv2d": "conv", "max_pool": "maxpool", "avg_pool": "avgpool"}
_SHORT_SKIPPED = ("flatten", *ACTIVATIONS)


def describe_arch(arch: str) -> str:
    """A short name for tables and titles: a named architecture as is, a layer list as its
    weighted layers and pools (``conv16-maxpool-conv32-maxpool-dense64-dense``); arch itself if it
    does not parse."""
    if not arch.startswith("["):
        return arch
    try:
        layers = parse_arch(arch)
    except ArchitectureError:
        return arch[:40]
    parts = []
    for layer in layers:
        if layer.type in _SHORT_SKIPPED:
            continue
        width = "" if layer.features is None or layer.type.endswith("pool") else str(layer.features)
        parts.append(_SHORT.get(layer.type, layer.type.replace("_", "")) + width)
    return "-".join(parts)


def resolve_input_shape(n_features: int, input_shape: Sequence[int]) -> tuple[int, ...]:
    """Return input_shape, or (n_features,) when it is empty, after checking its product is n_features."""
    if n_features < 1:
        raise InputShapeError(f"need n_features >= 1, got {n_features}")
    shape = tuple(input_shape) or (n_features,)
    if len(shape) > MAX_INPUT_RANK or any(not 1 <= d <= MAX_DIM for d in shape):
        raise InputShapeError(
            f"input_shape {list(shape)} needs 1 to {MAX_INPUT_RANK} sizes, each in [1, {MAX_DIM}]"
        )
    if math.prod(shape) != n_features:
        raise InputShapeError(
            f"input_shape {list(shape)} has {math.prod(shape)} values, n_features is {n_features}"
        )
    return shape


def _spatial_out(index: int, layer: Layer, sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Return the spatial sizes after a conv or pool window slides over sizes."""
    out = []
    for size, window, stride in zip(sizes, layer.window, layer.stride, strict=True):
        span = size if layer.padding == "SAME" else size - window + 1
        if span < 1:
            raise _fail(index, "window", f"{layer.window} is larger than the input {sizes} (VALID padding)")
        out.append(-(-span // stride))
    return tuple(out)


def _step(
    index: int, layer: Layer, shape: tuple[int, ...], n_classes: int
) -> tuple[tuple[Block, ...], tuple[int, ...]]:
    """Return one layer's parameter blocks and its output shape on an input of the given shape."""
    name = f"layer{index}"
    if layer.type == "dense":
        if len(shape) != 1:
            raise _fail(index, "type", f"dense needs a 1-D input, got {shape}: add a flatten layer")
        width = n_classes if layer.features is None else layer.features
        return (Block(f"{name}.kernel", (shape[0], width)), Block(f"{name}.bias", (width,))), (width,)
    if layer.window:
        if len(shape) != len(layer.window) + 1:
            want = "(L, C)" if len(layer.window) == 1 else "(H, W, C)"
            raise _fail(
                index, "type", f"{layer.type} with a {len(layer.window)}-D window needs {want}, got {shape}"
            )
        spatial = _spatial_out(index, layer, shape[:-1])
        if layer.features is None:  # pooling keeps the channels
            return (), (*spatial, shape[-1])
        kernel = Block(f"{name}.kernel", (*layer.window, shape[-1], layer.features))
        return (kernel, Block(f"{name}.bias", (layer.features,))), (*spatial, layer.features)
    if layer.type == "flatten":
        return (), (math.prod(shape),)
    if layer.type == "layer_norm":
        return (Block(f"{name}.scale", shape[-1:]), Block(f"{name}.bias", shape[-1:])), shape
    return (), shape  # an activation


@functools.lru_cache(maxsize=256)
def _layout(arch: str, input_shape: tuple[int, ...], n_classes: int) -> tuple[Block, ...]:
    """Return the layout of arch on input_shape (cached: the chain sizes a task on every message)."""
    if n_classes < 2:
        raise ArchitectureError(f"need n_classes >= 2, got {n_classes}")
    blocks: list[Block] = []
    shape = input_shape
    for index, layer in enumerate(parse_arch(arch)):
        new, shape = _step(index, layer, shape, n_classes)
        blocks.extend(new)
    # The output is (n_classes,): after the last dense layer only shape-keeping layers parse.
    return tuple(blocks)


def compute_layout(arch: str, input_shape: Sequence[int], n_classes: int) -> tuple[Block, ...]:
    """Return the ordered parameter blocks of arch on inputs of input_shape with n_classes outputs."""
    return _layout(arch, tuple(input_shape), n_classes)


def param_count(arch: str, n_features: int, n_classes: int, input_shape: Sequence[int] = ()) -> int:
    """Return the length of the flat parameter vector (input_shape empty: (n_features,))."""
    blocks = compute_layout(arch, resolve_input_shape(n_features, input_shape), n_classes)
    return sum(block.size for block in blocks)


def model_param_count(model: ModelSpecLike) -> int:
    """Return the length of the flat parameter vector of a task's model spec."""
    return param_count(model.arch, model.n_features, model.n_classes, model.input_shape)


def infer_n_classes(arch: str, n_features: int, size: int, input_shape: Sequence[int] = ()) -> int:
    """Return the class count for which arch on n_features inputs has size parameters."""
    # Only the output layer and what follows it grow with n_classes, so the count is affine in it.
    base = param_count(arch, n_features, 2, input_shape)
    per_class = param_count(arch, n_features, 3, input_shape) - base
    extra, rest = divmod(size - base, per_class)
    if rest or extra < 0:
        raise ArchitectureError(f"{size} parameters do not fit {arch[:40]!r} on {n_features} features")
    return 2 + extra
