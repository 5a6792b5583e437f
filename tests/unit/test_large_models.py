"""The pieces of large-model support that need no chain: the seeded integer initializer, cutting an
update into parts, and the aggregation work bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.client.tasktx import PART_BYTES, reveal_messages, split_update
from app.core.architectures import compute_layout
from app.core.fixedpoint import WEIGHT_FORMAT
from app.core.initializers import compute_glorot_limit, compute_seeded_weights
from app.modules.tasks.aggregation import compute_work, make_params
from app.modules.tasks.logic import MIN_PART_BYTES

CONV = (
    '[{"type":"conv2d","features":8,"kernel":[3,3]},{"type":"layer_norm"},'
    '{"type":"flatten"},{"type":"dense"}]'
)


@given(st.integers(1, 100_000), st.integers(1, 100_000))
def test_the_glorot_limit_is_the_exact_floor_of_the_float_formula(fan_in: int, fan_out: int) -> None:
    limit = compute_glorot_limit(fan_in, fan_out)
    exact = math.sqrt(6 / (fan_in + fan_out)) * 2**16
    assert limit <= exact + 1e-6 and limit + 1 > exact - 1e-6


def test_seeded_weights_follow_the_layout_kernels_uniform_biases_zero_scales_one() -> None:
    layout = compute_layout(CONV, (8, 8, 1), 10)
    weights = compute_seeded_weights(layout, b"seed")
    assert weights.dtype == np.int64 and weights.size == sum(b.size for b in layout)
    offset = 0
    for block in layout:
        values = weights[offset : offset + block.size]
        offset += block.size
        kind = block.name.rsplit(".", 1)[1]
        if kind == "kernel":
            *window, fan_in, fan_out = block.shape
            limit = compute_glorot_limit(fan_in * math.prod(window), fan_out * math.prod(window))
            assert -limit <= values.min() < 0 < values.max() <= limit
            assert abs(values.mean()) < limit / 4  # centred (a few hundred draws at least)
        elif kind == "scale":
            assert (values == 1 << 16).all()
        else:
            assert (values == 0).all()
    WEIGHT_FORMAT.check_range(weights)


def test_seeded_weights_are_a_function_of_the_seed_and_the_block_names() -> None:
    layout = compute_layout("mlp:64-64", (16,), 4)
    a = compute_seeded_weights(layout, b"one")
    assert np.array_equal(a, compute_seeded_weights(layout, b"one"))
    assert not np.array_equal(a, compute_seeded_weights(layout, b"two"))
    # Blocks of one shape draw different values: each block has its own stream, named by the block.
    twins = compute_layout("mlp:64-64-64", (64,), 4)
    w = compute_seeded_weights(twins, b"one")
    starts = dict(zip((b.name for b in twins), np.cumsum([0] + [b.size for b in twins]), strict=False))
    k1, k2, *_ = (b for b in twins if b.name.endswith("kernel") and b.shape == (64, 64))
    assert not np.array_equal(
        w[starts[k1.name] : starts[k1.name] + 4096], w[starts[k2.name] : starts[k2.name] + 4096]
    )


@pytest.mark.parametrize("seed", [b"", b"x" * 65])
def test_a_seed_must_be_one_to_64_bytes(seed: bytes) -> None:
    with pytest.raises(ValueError, match="1-64 bytes"):
        compute_seeded_weights(compute_layout("logreg", (4,), 2), seed)


@given(st.integers(0, 5 * MIN_PART_BYTES), st.sampled_from([MIN_PART_BYTES, 2 * MIN_PART_BYTES]))
def test_split_update_rejoins_and_every_part_is_full(length: int, part_bytes: int) -> None:
    update = bytes(i % 251 for i in range(length))
    parts, tail = split_update(update, part_bytes)
    assert b"".join(parts) + tail == update
    assert all(len(p) == part_bytes for p in parts)
    assert len(tail) <= part_bytes and (tail or not update)


def test_a_small_update_is_one_reveal_and_a_large_one_pays_to_read_its_parts_back() -> None:
    address = "synod1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqzqjhv3"
    small, reveal, gas = reveal_messages(address, 1, 1, b"s" * 32, 10, b"\x01" * PART_BYTES)
    assert small == [] and reveal.update == b"\x01" * PART_BYTES and gas == 0
    parts, reveal, gas = reveal_messages(address, 1, 1, b"s" * 32, 10, b"\x01" * (4 << 20))
    assert [p.index for p in parts] == list(range(7)) and len(reveal.update) == PART_BYTES
    assert gas >= 3 * 7 * PART_BYTES  # three gas a byte read, as the store charges


def test_aggregation_work_grows_with_the_rule() -> None:
    n, d = 16, 2_000_000
    assert compute_work("mean", make_params("mean", {}), n, d) == n * d
    assert compute_work("median", make_params("median", {}), n, d) == n * d * 4
    assert compute_work("krum", make_params("krum", {"byzantine": 1}), n, d) == n * n * d // 2
    clip = make_params("centered_clipping", {"iterations": 3, "radius": 100})
    assert compute_work("centered_clipping", clip, n, d) == n * d * 4
