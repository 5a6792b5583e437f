"""The inputs blob of a consensus query, its hash, and the ``synod:`` reference to package-shipped rows.

Blob format (what the chain hashes, inline in MsgPostQuery.inputs or behind inputs_uri):

    offset 0   4 bytes  magic b"SYQI"
    offset 4   u32      rows      (big-endian, >= 1)
    offset 8   u32      features  (big-endian, >= 1)
    offset 12  rows x features float32, little-endian, row-major; every value finite

inputs_hash = SHA-256(blob). A reference ``synod:DATASET/SPLIT?start=S&count=N&seed=K`` names rows
start .. start + N - 1 of a split (train, val or test) of app.ml.datasets.load_dataset(DATASET,
seed=K), standardized exactly as training sees them; seed defaults to 0. Every party resolves it to
the same blob, and the poster also gets the true labels, to commit to at post time and reveal later.
"""

from __future__ import annotations

import hashlib
import struct
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from numpy.typing import NDArray

from app.ml.datasets import DATASETS, load_dataset

__all__ = [
    "HEADER_BYTES",
    "MAGIC",
    "SCHEME",
    "SPLITS",
    "QueryInputsError",
    "compute_inputs_hash",
    "decode_inputs",
    "encode_inputs",
    "format_inputs_uri",
    "make_query_inputs",
    "resolve_inputs_uri",
]

MAGIC = b"SYQI"
_HEADER = struct.Struct(">4sII")
HEADER_BYTES = _HEADER.size
SCHEME = "synod"
SPLITS = ("train", "val", "test")
_VALUE = np.dtype("<f4")
_URI_KEYS = ("start", "count", "seed")


class QueryInputsError(ValueError):
    """An inputs blob or reference is malformed; the message says what and how to fix it."""


def encode_inputs(x: NDArray[np.floating]) -> bytes:
    """Return the blob of a (rows, features) array of finite numbers, stored as float32."""
    array = np.asarray(x)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise QueryInputsError(
            f"inputs must be a 2-D array with at least one row and column, got {array.shape}"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # out-of-range values become inf, rejected below
        values = array.astype(_VALUE)
    if not np.all(np.isfinite(values)):
        raise QueryInputsError("inputs hold NaN or infinite values (after conversion to float32)")
    rows, features = values.shape
    return _HEADER.pack(MAGIC, rows, features) + np.ascontiguousarray(values).tobytes()


def decode_inputs(blob: bytes) -> NDArray[np.float32]:
    """Return the (rows, features) float32 array a blob holds, after checking every header field."""
    if len(blob) < HEADER_BYTES:
        raise QueryInputsError(
            f"inputs blob is {len(blob)} bytes, shorter than its {HEADER_BYTES}-byte header"
        )
    magic, rows, features = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise QueryInputsError(f"inputs blob starts with {magic!r}, not the magic {MAGIC!r}")
    if rows < 1 or features < 1:
        raise QueryInputsError(f"inputs blob declares {rows} rows x {features} features; both must be >= 1")
    expected = HEADER_BYTES + rows * features * _VALUE.itemsize
    if len(blob) != expected:
        raise QueryInputsError(
            f"inputs blob is {len(blob)} bytes, but {rows} rows x {features} float32 features need {expected}"
        )
    values = np.frombuffer(blob, dtype=_VALUE, offset=HEADER_BYTES).reshape(rows, features)
    if not np.all(np.isfinite(values)):
        raise QueryInputsError("inputs blob holds NaN or infinite values")
    return values.astype(np.float32)


def compute_inputs_hash(blob: bytes) -> bytes:
    """Return SHA-256(blob), the inputs_hash a query carries."""
    return hashlib.sha256(blob).digest()


def format_inputs_uri(dataset: str, split: str, start: int, count: int, seed: int = 0) -> str:
    """Return the ``synod:`` reference that make_query_inputs(dataset, split, start, count, seed) resolves."""
    return f"{SCHEME}:{dataset}/{split}?start={start}&count={count}&seed={seed}"


def make_query_inputs(
    dataset: str, split: str, start: int, count: int, seed: int = 0
) -> tuple[bytes, NDArray[np.int64]]:
    """Return (blob, true labels) of rows start .. start + count - 1 of a split of a shipped dataset."""
    if dataset not in DATASETS:
        raise QueryInputsError(f"unknown dataset {dataset!r}; choose one of {', '.join(sorted(DATASETS))}")
    if split not in SPLITS:
        raise QueryInputsError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if start < 0 or count < 1 or seed < 0:
        raise QueryInputsError(f"need start >= 0, count >= 1 and seed >= 0, got {start}, {count}, {seed}")
    data = load_dataset(dataset, seed=seed)
    x, y = {"train": (data.x_train, data.y_train), "val": (data.x_val, data.y_val)}.get(
        split, (data.x_test, data.y_test)
    )
    if start + count > len(y):
        raise QueryInputsError(
            f"{dataset}/{split} (seed {seed}) has {len(y)} rows: start={start} count={count} overruns it"
        )
    rows = slice(start, start + count)
    return encode_inputs(x[rows]), np.asarray(y[rows], dtype=np.int64)


def _parse_uri_options(uri: str, query: str) -> dict[str, int]:
    """Return start, count and seed from the ``?key=value&...`` part of a reference."""
    options: dict[str, int] = {"seed": 0}
    seen: set[str] = set()
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise QueryInputsError(
            f"cannot parse the options of {uri!r}; expected start=S&count=N[&seed=K]"
        ) from None
    for key, value in pairs:
        if key not in _URI_KEYS or key in seen or not (value.isascii() and value.isdigit()):
            raise QueryInputsError(
                f"bad option {key}={value!r} in {uri!r}; expected start=S&count=N[&seed=K], "
                "each a non-negative integer given once"
            )
        seen.add(key)
        options[key] = int(value)
    missing = [key for key in ("start", "count") if key not in options]
    if missing:
        raise QueryInputsError(f"{uri!r} lacks {' and '.join(missing)}; expected start=S&count=N[&seed=K]")
    return options


def resolve_inputs_uri(uri: str) -> tuple[bytes, NDArray[np.int64] | None]:
    """Return (blob, true labels) of an inputs reference; labels are None where the scheme has none.

    The one scheme is ``synod:DATASET/SPLIT?start=S&count=N&seed=K`` (package-shipped rows), which
    always knows its labels.
    """
    try:
        parts = urlsplit(uri.strip())
    except ValueError as error:
        raise QueryInputsError(f"cannot parse inputs reference {uri!r}: {error}") from None
    if parts.scheme != SCHEME:
        raise QueryInputsError(
            f"inputs reference {uri!r} has scheme {parts.scheme!r}; only "
            f"'{SCHEME}:DATASET/SPLIT?start=S&count=N&seed=K' is supported"
        )
    dataset, sep, split = parts.path.partition("/")
    if not sep or not dataset or "/" in split or parts.netloc or parts.fragment:
        raise QueryInputsError(
            f"inputs reference {uri!r} must look like '{SCHEME}:DATASET/SPLIT?start=S&count=N'"
        )
    options = _parse_uri_options(uri, parts.query)
    return make_query_inputs(dataset, split, options["start"], options["count"], options["seed"])
