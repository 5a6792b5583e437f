"""Update files for `synod tx task commit|reveal`: a .npy vector of one model's parameter deltas.

A float array holds the delta (trained - global weights) in model units; it is quantized exactly as
the worker does it (app/ml/quantize.py UPDATE_SPEC: clipped to +-4.0, 12 fractional bits, round
half to even). An integer array is taken as already quantized int16 fixed point (value * 2**12)
and must lie within +-16384. Either way it must have the task model's parameter count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.core.fixedpoint import UPDATE_FORMAT, FixedPointError
from app.ml.quantize import UPDATE_SPEC, QuantizationError, quantize

__all__ = ["UpdateFileError", "encode_update_array", "read_update_file"]


class UpdateFileError(ValueError):
    """The update file cannot be read or does not fit the task's model."""


def encode_update_array(values: np.ndarray, size: int) -> bytes:
    """The UPDATE_FORMAT bytes of a float delta (quantized) or an int16 fixed-point vector (as is)."""
    vector = np.asarray(values)
    if vector.shape != (size,):
        raise UpdateFileError(
            f"the update has shape {vector.shape}; the task's model needs a 1-D vector of {size} values"
        )
    try:
        if np.issubdtype(vector.dtype, np.floating):
            return UPDATE_FORMAT.encode(quantize(vector, UPDATE_SPEC))
        if np.issubdtype(vector.dtype, np.integer):
            return UPDATE_FORMAT.encode(vector.astype(np.int64))
    except (QuantizationError, FixedPointError) as e:
        raise UpdateFileError(str(e)) from None
    raise UpdateFileError(f"the update must be a float or integer array, not {vector.dtype}")


def read_update_file(path: str | Path, size: int) -> bytes:
    """Load a .npy update file and encode it for the chain."""
    try:
        values = np.load(Path(path), allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UpdateFileError(f"cannot read {path} as a .npy array: {e}") from None
    return encode_update_array(values, size)
