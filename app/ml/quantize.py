"""The codec between float32 vectors and the fixed-point integer vectors that cross the chain boundary.

A value x is stored as q = round_half_to_even(clip(x, -clip, clip) * 2**scale_bits), so one unit (ulp)
is 2**-scale_bits and dequantize(q) = q / 2**scale_bits. A spec must satisfy
clip * 2**scale_bits <= min(dtype max, 2**24): every q then fits the dtype, needs no saturation, and
is exact in float32, so dequantize(quantize(x)) is within half an ulp of clip(x).

Defaults (see UPDATE_SPEC, WEIGHT_SPEC): updates are int16 deltas with 12 fractional bits clipped to
+-4.0 (ulp 2**-12 ~ 2.4e-4); weights are int32 with 16 fractional bits clipped to +-256.0
(ulp 2**-16 ~ 1.5e-5). On the wire a vector is its integers in little-endian fixed width, no header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT, FixedPointFormat
from app.core.fixedpoint import content_hash as payload_hash

__all__ = [
    "UPDATE_SPEC",
    "WEIGHT_SPEC",
    "QuantSpec",
    "QuantizationError",
    "decode",
    "dequantize",
    "encode",
    "payload_hash",
    "quantize",
    "quantize_delta",
]

_DTYPES: dict[str, np.dtype[Any]] = {"int16": np.dtype("<i2"), "int32": np.dtype("<i4")}
_FLOAT32_EXACT = 2**24  # largest power of two below which every integer is exact in float32


class QuantizationError(ValueError):
    """Raised for an invalid spec, a non-finite or out-of-range vector, or a payload of wrong size."""


@dataclass(frozen=True)
class QuantSpec:
    """Fixed point: scale_bits fractional bits, stored as dtype ('int16' or 'int32'), clipped to +-clip."""

    scale_bits: int
    dtype: str
    clip: float

    def __post_init__(self) -> None:
        """Reject a spec whose clipped range would not fit the dtype exactly."""
        if self.dtype not in _DTYPES:
            raise QuantizationError(f"dtype must be 'int16' or 'int32', got {self.dtype!r}")
        if not isinstance(self.scale_bits, int) or not 0 <= self.scale_bits <= 30:
            raise QuantizationError(f"scale_bits must be an integer in [0, 30], got {self.scale_bits!r}")
        limit = min(self.max_int, _FLOAT32_EXACT)
        if not 0 < self.clip * 2.0**self.scale_bits <= limit:
            raise QuantizationError(
                f"clip * 2**scale_bits must be in (0, {limit}] for {self.dtype}, got "
                f"{self.clip} * 2**{self.scale_bits}; lower clip or scale_bits"
            )

    @property
    def max_int(self) -> int:
        """Return the largest integer the dtype holds."""
        return int(np.iinfo(_DTYPES[self.dtype]).max)

    @property
    def width(self) -> int:
        """Return the bytes one encoded integer takes."""
        return _DTYPES[self.dtype].itemsize


def _spec_of(fmt: FixedPointFormat, dtype: str) -> QuantSpec:
    """Return the float codec of one of the chain's fixed-point formats."""
    return QuantSpec(scale_bits=fmt.scale_bits, dtype=dtype, clip=fmt.bound / 2.0**fmt.scale_bits)


# The chain's formats (app/core/fixedpoint.py) are the single source of these numbers.
UPDATE_SPEC = _spec_of(UPDATE_FORMAT, "int16")
WEIGHT_SPEC = _spec_of(WEIGHT_FORMAT, "int32")


def quantize(vector: ArrayLike, spec: QuantSpec) -> NDArray[np.int64]:
    """Return round_half_to_even(clip(vector) * 2**scale_bits) as int64 values within the dtype range."""
    values = np.asarray(vector, dtype=np.float64)
    if values.ndim != 1:
        raise QuantizationError(f"expected a 1-D vector, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise QuantizationError("vector has NaN or infinite entries; the training step diverged")
    # Scaling by a power of two is exact in float64, so np.rint (half to even) sees the true value.
    clipped = np.clip(values, -spec.clip, spec.clip)
    return np.rint(clipped * 2.0**spec.scale_bits).astype(np.int64)


def quantize_delta(trained: ArrayLike, start: ArrayLike, spec: QuantSpec) -> NDArray[np.int64]:
    """Return quantize(trained - start), subtracted in float64: exact for two float32 vectors."""
    return quantize(np.asarray(trained, np.float64) - np.asarray(start, np.float64), spec)


def dequantize(ints: ArrayLike, spec: QuantSpec) -> NDArray[np.float32]:
    """Return the float32 vector ints / 2**scale_bits."""
    values = np.asarray(ints)
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        raise QuantizationError(f"expected a 1-D integer vector, got {values.dtype} shape {values.shape}")
    return (values.astype(np.float64) / 2.0**spec.scale_bits).astype(np.float32)


def encode(ints: ArrayLike, spec: QuantSpec) -> bytes:
    """Return the integers as little-endian fixed-width bytes of the spec's dtype, with no header."""
    values = np.asarray(ints)
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        raise QuantizationError(f"expected a 1-D integer vector, got {values.dtype} shape {values.shape}")
    if values.size and (int(values.min()) < -spec.max_int - 1 or int(values.max()) > spec.max_int):
        raise QuantizationError(f"vector has entries outside the {spec.dtype} range; quantize it first")
    return values.astype(_DTYPES[spec.dtype]).tobytes()


def decode(payload: bytes, spec: QuantSpec, length: int) -> NDArray[np.int64]:
    """Return the int64 vector of the given length encoded in payload, which must be exactly that size."""
    expected = length * spec.width
    if length < 0 or len(payload) != expected:
        raise QuantizationError(
            f"payload has {len(payload)} bytes but {length} {spec.dtype} values need {expected}; "
            "check the task's model size and quantization spec"
        )
    return np.frombuffer(payload, dtype=_DTYPES[spec.dtype]).astype(np.int64)
