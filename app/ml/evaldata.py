"""Public evaluation data named by a reference string, and the hash a task commits to.

A reference is either a package dataset's part, ``DATASET:PART:split=S`` with PART ``test`` or
``val`` and S the split seed of app.ml.datasets.load_dataset (e.g. ``digits:test:split=0``), or the
URI of the owner's own rows (``file://``, ``http://`` or ``https://``, see app/client/blobs.py) in
their canonical byte form:

    b"synod/evaldata/v1" || u64le(rows) || u64le(features) || u64le(rows)
                         || float32le features, row-major || int64le labels

The task's eval hash is SHA-256 of exactly those bytes, whichever way the rows are named, so anyone
holding the reference checks they evaluate on the rows the owner committed to. Rows are as read,
before the task schema's standardization (app/ml/schema.py), which every party applies itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.client.blobs import BlobError, fetch_blob
from app.ml.datasets import DATASETS, DatasetError, load_dataset
from app.ml.sources.base import MAX_CELLS, check_finite

__all__ = ["EvalData", "decode_eval_rows", "encode_eval_rows", "eval_reference", "is_uri", "load_eval_data"]

_REFERENCE = re.compile(r"(?P<dataset>[a-z_]+):(?P<part>test|val):split=(?P<split>\d{1,9})")
_DOMAIN = b"synod/evaldata/v1"
_HEADER = len(_DOMAIN) + 24
_URI = re.compile(r"(file|https?)://", re.IGNORECASE)


def encode_eval_rows(x: NDArray[np.float32], y: NDArray[np.int64]) -> bytes:
    """The canonical bytes of evaluation rows (x 2-D, one label per row); see the module docstring."""
    if x.ndim != 2 or y.shape != (len(x),):
        raise DatasetError(
            f"evaluation rows need x of shape (n, d) and n labels, got {x.shape} and {y.shape}"
        )
    shapes = np.asarray(x.shape + y.shape, dtype="<u8").tobytes()
    features = np.ascontiguousarray(x, dtype="<f4").tobytes()
    return _DOMAIN + shapes + features + np.ascontiguousarray(y, dtype="<i8").tobytes()


def decode_eval_rows(blob: bytes, where: str) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Rows from their canonical bytes, every size checked against the blob before it is used."""
    if len(blob) < _HEADER or not blob.startswith(_DOMAIN):
        raise DatasetError(f"{where}: not Synod evaluation rows (no {_DOMAIN.decode()} header)")
    rows, features, labels = (int(n) for n in np.frombuffer(blob, "<u8", 3, len(_DOMAIN)))
    if labels != rows or rows == 0 or features == 0 or rows * features > MAX_CELLS:
        raise DatasetError(f"{where}: declares {rows} rows of {features} features and {labels} labels")
    if len(blob) != _HEADER + rows * features * 4 + rows * 8:
        raise DatasetError(f"{where}: {len(blob)} bytes do not hold {rows} rows of {features} features")
    x = np.frombuffer(blob, "<f4", rows * features, _HEADER).reshape(rows, features).astype(np.float32)
    y = np.frombuffer(blob, "<i8", rows, _HEADER + rows * features * 4).astype(np.int64)
    check_finite(x, where)
    if y.min() < 0:
        raise DatasetError(f"{where}: label {int(y.min())} is negative")
    return x, y


def is_uri(reference: str) -> bool:
    """True if reference names the owner's rows by URI rather than a package dataset's part."""
    return _URI.match(reference) is not None


@dataclass(frozen=True, eq=False)
class EvalData:
    """Evaluation rows, their reference and their content hash."""

    reference: str
    x: NDArray[np.float32]
    y: NDArray[np.int64]
    n_classes: int

    @property
    def digest(self) -> bytes:
        """SHA-256 of the rows' canonical bytes."""
        return hashlib.sha256(encode_eval_rows(self.x, self.y)).digest()


def eval_reference(dataset: str, part: str = "test", split: int = 0) -> str:
    """Return the reference string of a dataset's test or validation rows."""
    return f"{dataset}:{part}:split={split}"


def load_eval_data(
    reference: str, expected_hash: bytes | None = None, n_classes: int | None = None
) -> EvalData:
    """Load the rows reference names; if expected_hash is given, they must hash to it.

    A URI is fetched (app/client/blobs.py) and needs expected_hash, checked before the bytes are
    decoded; n_classes is the task's class count (default: the largest label + 1).
    """
    if is_uri(reference):
        if expected_hash is None:
            raise DatasetError(f"evaluation data {reference}: a URI is only read against the task's hash")
        try:
            blob = fetch_blob(reference, expected_hash)
        except BlobError as e:
            raise DatasetError(f"evaluation data: {e}") from None
        x, y = decode_eval_rows(blob, reference)
        return EvalData(reference, x, y, n_classes or int(y.max()) + 1)
    match = _REFERENCE.fullmatch(reference)
    if match is None or match["dataset"] not in DATASETS:
        raise DatasetError(
            f"bad evaluation data reference {reference!r}; expected a file://, http:// or https:// URI, or "
            f"DATASET:test|val:split=S with DATASET one of {', '.join(sorted(DATASETS))}"
        )
    data = load_dataset(match["dataset"], seed=int(match["split"]))
    x, y = (data.x_test, data.y_test) if match["part"] == "test" else (data.x_val, data.y_val)
    loaded = EvalData(reference, x, y, data.n_classes)
    if expected_hash is not None and loaded.digest != expected_hash:
        raise DatasetError(
            f"evaluation data {reference!r} hashes to {loaded.digest.hex()}, but the task committed to "
            f"{expected_hash.hex()}; this machine's copy of the data differs from the task owner's"
        )
    return loaded
