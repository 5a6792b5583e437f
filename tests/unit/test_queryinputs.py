"""The query inputs blob (app/ml/queryinputs.py): layout, checks, hash and the synod: reference."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.ml.datasets import load_dataset
from app.ml.queryinputs import (
    HEADER_BYTES,
    QueryInputsError,
    compute_inputs_hash,
    decode_inputs,
    encode_inputs,
    format_inputs_uri,
    make_query_inputs,
    resolve_inputs_uri,
)

FINITE = st.floats(-1e6, 1e6, width=32)


@given(
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9), elements=FINITE)
)
def test_round_trip(x: np.ndarray) -> None:
    assert np.array_equal(decode_inputs(encode_inputs(x)), x)


def test_layout_is_big_endian_header_then_little_endian_float32_rows() -> None:
    x = np.array([[1.0, -2.5, 3.0], [0.5, 0.0, 7.25]])
    blob = encode_inputs(x)
    assert blob[:4] == b"SYQI"
    assert struct.unpack(">II", blob[4:12]) == (2, 3)
    assert blob[HEADER_BYTES:] == struct.pack("<6f", 1.0, -2.5, 3.0, 0.5, 0.0, 7.25)
    assert compute_inputs_hash(blob) == hashlib.sha256(blob).digest()


def test_float64_inputs_are_stored_as_float32() -> None:
    decoded = decode_inputs(encode_inputs(np.array([[0.1, 0.2]])))
    assert decoded.dtype == np.float32 and np.array_equal(decoded, np.float32([[0.1, 0.2]]))


@pytest.mark.parametrize(
    "x, match",
    [
        (np.zeros(3), "2-D"),
        (np.zeros((0, 3)), "at least one row"),
        (np.array([[1.0, np.nan]]), "NaN"),
        (np.array([[1e39]]), "infinite"),  # finite in float64, infinite in float32
    ],
)
def test_encode_rejects(x: np.ndarray, match: str) -> None:
    with pytest.raises(QueryInputsError, match=match):
        encode_inputs(x)


def _blob(magic: bytes = b"SYQI", rows: int = 1, features: int = 2, values: bytes | None = None) -> bytes:
    body = struct.pack("<2f", 1.0, 2.0) if values is None else values
    return struct.pack(">4sII", magic, rows, features) + body


@pytest.mark.parametrize(
    "blob, match",
    [
        (b"SYQ", "shorter than"),
        (_blob(magic=b"XXXX"), "magic"),
        (_blob(rows=0, values=b""), "both must be >= 1"),
        (_blob(rows=2), "need 28"),
        (_blob(values=struct.pack("<3f", 1, 2, 3)), "need 20"),
        (_blob(values=struct.pack("<2f", 1.0, float("inf"))), "infinite"),
    ],
)
def test_decode_rejects(blob: bytes, match: str) -> None:
    with pytest.raises(QueryInputsError, match=match):
        decode_inputs(blob)


def test_reference_resolves_to_the_standardized_rows_and_their_labels() -> None:
    blob, labels = resolve_inputs_uri("synod:digits/test?start=10&count=5&seed=1")
    data = load_dataset("digits", seed=1)
    assert np.array_equal(decode_inputs(blob), data.x_test[10:15])
    assert labels is not None and np.array_equal(labels, data.y_test[10:15])
    made_blob, made_labels = make_query_inputs("digits", "test", 10, 5, 1)
    assert made_blob == blob and np.array_equal(made_labels, labels)


def test_reference_seed_defaults_to_zero_and_format_round_trips() -> None:
    plain, _ = resolve_inputs_uri("synod:wine/val?start=0&count=3")
    uri = format_inputs_uri("wine", "val", 0, 3, 0)
    assert uri == "synod:wine/val?start=0&count=3&seed=0"
    assert resolve_inputs_uri(uri)[0] == plain
    assert resolve_inputs_uri("synod:wine/val?start=0&count=3&seed=2")[0] != plain


@pytest.mark.parametrize(
    "uri, match",
    [
        ("http://x/digits/test?start=0&count=1", "scheme"),
        ("synod:digits?start=0&count=1", "must look like"),
        ("synod:digits/test/more?start=0&count=1", "must look like"),
        ("synod:mnist/test?start=0&count=1", "unknown dataset"),
        ("synod:digits/holdout?start=0&count=1", "unknown split"),
        ("synod:digits/test?start=0", "lacks count"),
        ("synod:digits/test?count=2", "lacks start"),
        ("synod:digits/test?start=0&count=1&start=1", "given once"),
        ("synod:digits/test?start=-1&count=1", "non-negative"),
        ("synod:digits/test?start=0&count=1&limit=3", "bad option"),
        ("synod:digits/test?start", "cannot parse"),
        ("synod:digits/test?start=0&count=0", "count >= 1"),
        ("synod:digits/test?start=350&count=20", "overruns"),
    ],
)
def test_bad_references_are_rejected(uri: str, match: str) -> None:
    with pytest.raises(QueryInputsError, match=match):
        resolve_inputs_uri(uri)
