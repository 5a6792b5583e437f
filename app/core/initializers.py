"""Round-0 weights derived on chain from a seed, in integers only.

A model whose int32 weights exceed one transaction (4 bytes a parameter: 2M parameters are 8 MB)
is posted with an `init_seed` instead of its weights, and every validator derives the same vector:

- kernels (dense and conv): Glorot-uniform, integers drawn uniformly from [-L, L] with
  L = isqrt(6 * 2**(2*F) // (fan_in + fan_out)), i.e. floor(sqrt(6 / (fan_in + fan_out)) * 2**F) for
  WEIGHT_FORMAT's F = 16 fractional bits. A dense kernel (in, out) has fan_in = in, fan_out = out; a
  conv kernel (*window, c_in, c_out) multiplies both by the window's size, as Flax and Keras do;
- biases: zero; layer-norm scales: one (2**F).

The uniform integers come from SHAKE-256 of a domain tag, the block's name and the seed, 4 bytes
(little-endian) per parameter, reduced modulo 2L + 1. The modulo bias is below 2L / 2**32 < 2**-14
for every L this format allows, and it is the same on every validator, which is what consensus
needs. No float and no `random` is involved: the vector is a function of (layout, seed) alone.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from app.core.architectures import Block
from app.core.fixedpoint import WEIGHT_FORMAT

__all__ = ["MAX_SEED_LEN", "compute_glorot_limit", "compute_seeded_weights"]

MAX_SEED_LEN = 64
_DOMAIN = b"synod/init/v1"


def _fans(block: Block) -> tuple[int, int]:
    """A kernel's (fan_in, fan_out): its last two axes scaled by the size of the axes before them."""
    *window, fan_in, fan_out = block.shape
    receptive = math.prod(window)
    return fan_in * receptive, fan_out * receptive


def compute_glorot_limit(fan_in: int, fan_out: int, scale_bits: int = WEIGHT_FORMAT.scale_bits) -> int:
    """floor(sqrt(6 / (fan_in + fan_out)) * 2**scale_bits), exactly, by integer square root."""
    return math.isqrt(6 * (1 << (2 * scale_bits)) // (fan_in + fan_out))


def _uniform(block: Block, seed: bytes, limit: int) -> NDArray[np.int64]:
    """block.size integers uniform in [-limit, limit] from SHAKE-256 of (domain, block name, seed)."""
    tag = _DOMAIN + len(block.name).to_bytes(2, "big") + block.name.encode() + seed
    raw = hashlib.shake_256(tag).digest(4 * block.size)
    words = np.frombuffer(raw, dtype="<u4").astype(np.int64)
    return words % (2 * limit + 1) - limit


def _block_weights(block: Block, seed: bytes) -> NDArray[np.int64]:
    """One block's round-0 integers."""
    kind = block.name.rsplit(".", 1)[-1]
    if kind == "kernel":
        return _uniform(block, seed, compute_glorot_limit(*_fans(block)))
    if kind == "scale":
        return np.full(block.size, 1 << WEIGHT_FORMAT.scale_bits, dtype=np.int64)
    return np.zeros(block.size, dtype=np.int64)


def compute_seeded_weights(layout: Sequence[Block], seed: bytes) -> NDArray[np.int64]:
    """The round-0 weight vector of layout (in WEIGHT_FORMAT units) derived from seed."""
    if not 1 <= len(seed) <= MAX_SEED_LEN:
        raise ValueError(f"init_seed must be 1-{MAX_SEED_LEN} bytes, got {len(seed)}")
    if not layout:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([_block_weights(block, seed) for block in layout])
