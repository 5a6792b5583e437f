"""Trained models as files: one named float32 array per layout block, as .npz or .safetensors.

The block names and shapes are app/core's layout of the task's architecture (``layer0.kernel``
(3, 3, 1, 8), ``layer0.bias`` (8,), ...), so a file reads back into any framework by name; the flat
vector is the blocks in layout order, each in C order (``read_model`` rebuilds it). A safetensors
file also carries the task's model spec and checkpoint in its string metadata.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from safetensors.numpy import load_file, save

from app.core.fsutil import write_atomically
from app.ml.models import ModelError, from_arrays, layout, to_arrays

__all__ = ["EXPORT_FORMATS", "read_model", "write_model"]

EXPORT_FORMATS = ("npz", "safetensors")


def write_model(
    path: str | Path,
    fmt: str,
    arch: str,
    flat: ArrayLike,
    input_shape: Sequence[int],
    n_classes: int,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write the flat float32 weights of arch as one array per layout block in format fmt."""
    blocks = layout(arch, input_shape, n_classes)
    arrays = {b.name: a for b, a in zip(blocks, to_arrays(arch, flat, input_shape, n_classes), strict=True)}
    if fmt == "npz":
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        data = buffer.getvalue()
    elif fmt == "safetensors":
        data = save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, dict(metadata or {}))
    else:
        raise ModelError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    write_atomically(Path(path), data, mode=0o644)  # a crash never leaves half a model file


def read_model(
    path: str | Path, fmt: str, arch: str, input_shape: Sequence[int], n_classes: int
) -> NDArray[np.float32]:
    """Return the flat float32 vector of a file write_model wrote, refusing missing or extra blocks."""
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    elif fmt == "safetensors":
        arrays = load_file(str(path))
    else:
        raise ModelError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    names = [b.name for b in layout(arch, input_shape, n_classes)]
    if sorted(arrays) != sorted(names):
        raise ModelError(f"{path} holds arrays {sorted(arrays)}, the model's blocks are {names}")
    return from_arrays(arch, [arrays[name] for name in names], input_shape, n_classes)
