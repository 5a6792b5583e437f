"""The fixed-point formats of model weights and updates on chain, and their byte encodings.

A weight or update value x is carried as the integer q = round(x * 2**scale_bits), clipped to
+-bound. Updates are int16 deltas with 12 fractional bits clipped to +-4.0; global weights are int32
with 16 fractional bits clipped to +-256.0. On the wire a vector is its integers little-endian at the
dtype's width, with no header; its SHA-256 is the hash the chain records. Off-chain code
(app/ml/quantize.py) converts floats to and from these integers; the chain only ever sees integers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from math import isqrt

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "UPDATE_FORMAT",
    "WEIGHT_FORMAT",
    "FixedPointError",
    "FixedPointFormat",
    "compute_cosine_bps",
    "compute_next_weights",
    "compute_norm_ratio_bps",
    "compute_update_between",
    "content_hash",
]


class FixedPointError(ValueError):
    """Raised for a payload of the wrong size or a vector outside its format's bound."""


@dataclass(frozen=True)
class FixedPointFormat:
    """Integers with scale_bits fractional bits, stored little-endian as dtype, within +-bound."""

    scale_bits: int
    dtype: str
    bound: int

    @property
    def width(self) -> int:
        """Bytes per encoded integer."""
        return np.dtype(self.dtype).itemsize

    def encode(self, values: NDArray[np.integer]) -> bytes:
        """Return the vector's wire bytes after checking every entry is within +-bound."""
        vector = np.asarray(values)
        if vector.ndim != 1 or not np.issubdtype(vector.dtype, np.integer):
            raise FixedPointError(f"expected a 1-D integer vector, got {vector.dtype} {vector.shape}")
        self.check_range(vector.astype(np.int64))
        return vector.astype(self.dtype).tobytes()

    def decode(self, payload: bytes, length: int) -> NDArray[np.int64]:
        """Return the int64 vector in payload, which must hold exactly length entries within bound."""
        if len(payload) != length * self.width:
            raise FixedPointError(
                f"payload has {len(payload)} bytes, but {length} values of {self.dtype} need "
                f"{length * self.width}; check the task's model size"
            )
        vector = np.frombuffer(payload, dtype=self.dtype).astype(np.int64)
        self.check_range(vector)
        return vector

    def check_range(self, vector: NDArray[np.int64]) -> None:
        """Raise FixedPointError if an entry is outside +-bound."""
        if vector.size and (int(vector.min()) < -self.bound or int(vector.max()) > self.bound):
            raise FixedPointError(
                f"entries must lie within +-{self.bound} ({self.bound >> self.scale_bits}.0 at "
                f"{self.scale_bits} fractional bits); got [{int(vector.min())}, {int(vector.max())}]"
            )


# dtype little-endian explicitly: the wire format does not depend on the host.
UPDATE_FORMAT = FixedPointFormat(scale_bits=12, dtype="<i2", bound=4 << 12)
WEIGHT_FORMAT = FixedPointFormat(scale_bits=16, dtype="<i4", bound=256 << 16)
_UPDATE_TO_WEIGHT_SHIFT = WEIGHT_FORMAT.scale_bits - UPDATE_FORMAT.scale_bits


def compute_next_weights(weights: NDArray[np.int64], update: NDArray[np.int64]) -> NDArray[np.int64]:
    """Return weights + update (rescaled to the weight format), clipped to the weight bound."""
    # |update| <= 2**31 after aggregation and the shift adds 4 bits: 2**35 + 2**24 fits int64.
    moved = weights + (update.astype(np.int64) << _UPDATE_TO_WEIGHT_SHIFT)
    return np.clip(moved, -WEIGHT_FORMAT.bound, WEIGHT_FORMAT.bound)


def compute_update_between(start: NDArray[np.int64], end: NDArray[np.int64]) -> NDArray[np.int64]:
    """Return the update that moves weights start to end: (end - start) in the update format.

    Rounds half up ((d + 8) >> 4 for the 4-bit shift) and clips to the update bound, so a trace's
    first and last checkpoints determine the update exactly and the chain can check it.
    """
    half = 1 << (_UPDATE_TO_WEIGHT_SHIFT - 1)
    delta = (end.astype(np.int64) - start.astype(np.int64) + half) >> _UPDATE_TO_WEIGHT_SHIFT
    return np.clip(delta, -UPDATE_FORMAT.bound, UPDATE_FORMAT.bound)


def _dot(a: NDArray[np.int64], b: NDArray[np.int64]) -> int:
    """Return the exact integer dot product of two update-format vectors."""
    # Entries are within 2**15, so a product is below 2**30 and int64 holds 2**33 of them.
    return int(np.dot(a.astype(np.int64), b.astype(np.int64)))


def compute_cosine_bps(a: NDArray[np.int64], b: NDArray[np.int64]) -> int:
    """Return floor(10^4 x cos(a, b)) in [-10^4, 10^4], exactly in integers (0 if either is zero).

    Shared by every rule that compares update directions (the committee's direction test against a
    reference update, similarity checks between updates). The square root is isqrt of the product of
    the squared norms, so every machine gets the same number.
    """
    if a.shape != b.shape:
        raise FixedPointError(f"cosine of vectors of lengths {a.shape} and {b.shape}")
    norms = _dot(a, a) * _dot(b, b)
    if norms == 0:
        return 0
    cosine = 10_000 * _dot(a, b) // isqrt(norms)
    return max(-10_000, min(10_000, cosine))


def compute_norm_ratio_bps(update: NDArray[np.int64], reference_sq: int) -> int:
    """Return floor(10^4 x |update| / sqrt(reference_sq)) (10^4 x |update| when the reference is zero)."""
    if reference_sq <= 0:
        return 10_000 * isqrt(_dot(update, update))
    return isqrt(10_000**2 * _dot(update, update) // reference_sq)


def content_hash(payload: bytes) -> bytes:
    """Return the SHA-256 digest by which the chain stores and names a payload."""
    return hashlib.sha256(payload).digest()
