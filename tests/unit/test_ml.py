"""Off-chain ML: the fixed-point codec, dataset splits and specs, models, and local training."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.ml.datasets import (
    DatasetError,
    DataSpec,
    load_dataset,
    load_shard,
    parse_data_spec,
    split_dirichlet,
    split_iid,
)
from app.ml.models import (
    ModelError,
    flatten,
    infer_n_classes,
    init_params,
    param_count,
    unflatten,
)
from app.ml.quantize import (
    UPDATE_SPEC,
    WEIGHT_SPEC,
    QuantizationError,
    QuantSpec,
    decode,
    dequantize,
    encode,
    payload_hash,
    quantize,
)
from app.ml.train import TrainConfig, evaluate, train_centralized, train_local


@st.composite
def specs(draw: st.DrawFn) -> QuantSpec:
    """Draw a valid spec: clip * 2**scale_bits within the dtype and float32's exact range."""
    dtype = draw(st.sampled_from(["int16", "int32"]))
    scale_bits = draw(st.integers(0, 24))
    limit = min(2**15 - 1 if dtype == "int16" else 2**24, 2**24)
    units = draw(st.integers(1, limit))
    return QuantSpec(scale_bits, dtype, units / 2**scale_bits)


@given(specs(), st.data())
def test_round_trip_is_within_half_an_ulp(spec: QuantSpec, data: st.DataObject) -> None:
    bound = float(np.float32(spec.clip * 1.5))
    elements = st.floats(-bound, bound, width=32, allow_nan=False)
    vector = data.draw(hnp.arrays(np.float32, st.integers(1, 40), elements=elements))
    ints = quantize(vector, spec)
    assert ints.dtype == np.int64 and np.all(np.abs(ints) <= spec.max_int)
    back = dequantize(ints, spec)
    assert back.dtype == np.float32
    clipped = np.clip(vector.astype(np.float64), -spec.clip, spec.clip)
    assert np.all(np.abs(back.astype(np.float64) - clipped) <= 0.5 / 2**spec.scale_bits)


def test_quantize_clips_and_rounds_half_to_even() -> None:
    ulp = 1 / 2**UPDATE_SPEC.scale_bits
    values = [0.5 * ulp, 1.5 * ulp, 2.5 * ulp, -0.5 * ulp, -2.5 * ulp, 100.0, -100.0]
    expected = [0, 2, 2, 0, -2, 4 * 2**12, -4 * 2**12]
    assert quantize(np.array(values, np.float32), UPDATE_SPEC).tolist() == expected
    with pytest.raises(QuantizationError, match="NaN or infinite"):
        quantize(np.array([0.0, np.nan]), UPDATE_SPEC)


def test_spec_validation() -> None:
    assert UPDATE_SPEC.width == 2 and WEIGHT_SPEC.width == 4
    with pytest.raises(QuantizationError, match="lower clip or scale_bits"):
        QuantSpec(12, "int16", 8.0)  # 8 * 4096 = 32768 does not fit int16
    with pytest.raises(QuantizationError, match="lower clip or scale_bits"):
        QuantSpec(16, "int32", 512.0)  # 2**25 is past float32's exact integers
    with pytest.raises(QuantizationError, match="dtype must be"):
        QuantSpec(12, "int8", 1.0)


@given(
    st.sampled_from([UPDATE_SPEC, WEIGHT_SPEC]),
    st.lists(st.integers(-(2**15), 2**15 - 1), max_size=50),
)
def test_encode_decode_round_trip(spec: QuantSpec, values: list[int]) -> None:
    payload = encode(np.array(values, dtype=np.int64), spec)
    assert len(payload) == len(values) * spec.width
    assert decode(payload, spec, len(values)).tolist() == values
    assert payload_hash(payload) == hashlib.sha256(payload).digest()


def test_encoding_is_little_endian_and_lengths_are_checked() -> None:
    assert encode(np.array([1, -2]), UPDATE_SPEC) == b"\x01\x00\xfe\xff"
    payload = encode(np.array([1, 2, 3]), WEIGHT_SPEC)
    for length in (2, 4, -1):
        with pytest.raises(QuantizationError, match=f"payload has 12 bytes but {length} int32"):
            decode(payload, WEIGHT_SPEC, length)
    with pytest.raises(QuantizationError, match="payload has 11 bytes"):
        decode(payload[:-1], WEIGHT_SPEC, 3)
    with pytest.raises(QuantizationError, match="outside the int16 range"):
        encode(np.array([2**15]), UPDATE_SPEC)
    with pytest.raises(QuantizationError, match="integer vector"):
        encode(np.array([1.0]), UPDATE_SPEC)


LABELS = load_dataset("digits").y_train


@pytest.mark.parametrize("workers", [1, 3, 8])
def test_splits_partition_exactly_and_follow_the_seed(workers: int) -> None:
    for split in (
        lambda seed: split_iid(LABELS, workers, seed),
        lambda seed: split_dirichlet(LABELS, workers, 0.3, seed),
    ):
        parts = split(7)
        assert len(parts) == workers
        assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(LABELS)))
        assert all(np.array_equal(a, b) for a, b in zip(parts, split(7), strict=True))
        if workers > 1:
            assert not all(np.array_equal(a, b) for a, b in zip(parts, split(8), strict=True))


def label_skew(parts: list[np.ndarray]) -> float:
    """Return the mean total-variation distance between each part's label mix and the whole's."""
    overall = np.bincount(LABELS, minlength=10) / len(LABELS)
    mixes = [np.bincount(LABELS[part], minlength=10) / len(part) for part in parts]
    return float(np.mean([0.5 * np.abs(mix - overall).sum() for mix in mixes]))


def test_dirichlet_skews_labels_and_keeps_every_worker_fed() -> None:
    iid = label_skew(split_iid(LABELS, 8, 0))
    skewed_parts = split_dirichlet(LABELS, 8, 0.1, 0, min_samples=8)
    assert min(len(part) for part in skewed_parts) >= 8
    assert iid < 0.15 < 0.4 < label_skew(skewed_parts)
    assert label_skew(split_dirichlet(LABELS, 8, 100.0, 0)) < 0.15


def test_load_dataset_is_standardized_and_deterministic() -> None:
    for name, classes, rows in [("digits", 10, 1797), ("breast_cancer", 2, 569), ("wine", 3, 178)]:
        data = load_dataset(name, seed=1)
        assert data.n_classes == classes and data.x_train.dtype == np.float32
        assert len(data.y_train) + len(data.y_val) + len(data.y_test) == rows
        assert np.abs(data.x_train.mean(axis=0)).max() < 1e-4
    assert np.array_equal(load_dataset("wine", seed=1).x_test, load_dataset("wine", seed=1).x_test)
    assert not np.array_equal(load_dataset("wine", seed=1).y_test, load_dataset("wine", seed=2).y_test)


def test_data_spec_parses_and_shards_cover_the_training_set() -> None:
    spec = parse_data_spec("digits:shard=3/8:dirichlet=0.5:seed=1")
    assert spec == DataSpec("digits", shard=3, shards=8, alpha=0.5, seed=1, split=0)
    assert parse_data_spec("wine").shards == 1 and parse_data_spec("wine:iid").alpha is None
    sizes = [len(load_shard(f"wine:shard={i}/3:dirichlet=0.5:split=2").y) for i in range(3)]
    assert sum(sizes) == len(load_dataset("wine", seed=2).y_train)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mnist:shard=0/2", "unknown dataset 'mnist'"),
        ("digits:shard=8/8", "needs 0 <= I < N"),
        ("digits:shard=1-8", "bad option 'shard=1-8'"),
        ("digits:dirichlet=0", "ALPHA > 0"),
        ("digits:dirichlet=nan", "ALPHA > 0"),
        ("digits:seed=-1", "bad option 'seed=-1'"),
        ("digits:colour=red", "bad option 'colour=red'"),
        ("digits:seed=1:seed=2", "repeats an earlier one"),
        ("digits:iid:dirichlet=1", "repeats an earlier one"),
    ],
)
def test_bad_data_specs_are_rejected(text: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        parse_data_spec(text)


@pytest.mark.parametrize("arch", ["logreg", "mlp:16", "mlp:64-32"])
def test_flatten_unflatten_round_trip(arch: str) -> None:
    params = init_params(arch, 13, 3, seed=4)
    flat = flatten(params)
    assert flat.dtype == np.float32 and flat.shape == (param_count(arch, 13, 3),)
    assert infer_n_classes(arch, 13, flat.size) == 3
    again = unflatten(arch, flat, 13, 3)
    for part, part2 in zip(params, again, strict=True):
        assert np.array_equal(part, part2)
    # The documented order: first layer's W (fan_in, fan_out) row-major, then its b.
    w, b = params[0], params[1]
    assert w.shape[0] == 13 and b.shape == (w.shape[1],)
    assert np.array_equal(flat[: w.size], np.asarray(w).ravel())
    assert np.array_equal(flat[w.size : w.size + b.size], b)


def test_bad_architectures_and_sizes_are_rejected() -> None:
    for arch in ("cnn", "mlp", "mlp:", "mlp:0", "mlp:4--2", "logreg:3"):
        with pytest.raises(ModelError, match="unknown architecture"):
            init_params(arch, 4, 2, seed=0)
    with pytest.raises(ModelError, match="needs 42 parameters"):
        unflatten("logreg", np.zeros(41), 13, 3)
    with pytest.raises(ModelError, match="do not fit"):
        infer_n_classes("logreg", 13, 41)


def test_logreg_on_digits_beats_80_percent_and_survives_quantization() -> None:
    data = load_dataset("digits")
    config = TrainConfig(optimizer="sgd", learning_rate=0.1, batch_size=32, epochs=2)
    weights = train_centralized("logreg", data.x_train, data.y_train, data.n_classes, config)
    accuracy, loss = evaluate("logreg", weights, data.x_test, data.y_test)
    assert accuracy > 0.8 and 0 < loss < 1
    on_chain = dequantize(quantize(weights, WEIGHT_SPEC), WEIGHT_SPEC)
    assert abs(evaluate("logreg", on_chain, data.x_test, data.y_test)[0] - accuracy) < 0.01


def test_local_training_from_flat_weights() -> None:
    shard = load_shard("digits:shard=2/8:dirichlet=0.5")
    start = flatten(init_params("logreg", 64, shard.n_classes, seed=0))
    config = TrainConfig(optimizer="adam", learning_rate=0.01, batch_size=1000, epochs=2, seed=3)
    weights, count = train_local("logreg", start, shard.x, shard.y, config)
    assert count == len(shard.y) < config.batch_size  # one padded, masked batch
    assert weights.shape == start.shape and not np.array_equal(weights, start)
    steps: list[tuple[int, int]] = []
    again, _ = train_local("logreg", start, shard.x, shard.y, config, on_step=lambda *s: steps.append(s))
    assert np.allclose(weights, again)
    assert steps == [(1, 2), (2, 2)]  # one batch per epoch, two epochs: told after each step
    assert evaluate("logreg", weights, shard.x, shard.y)[1] < evaluate("logreg", start, shard.x, shard.y)[1]
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        TrainConfig(optimizer="rmsprop")
