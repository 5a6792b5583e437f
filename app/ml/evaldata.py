"""Public evaluation data named by a reference string, and the hash a task commits to.

Reference grammar: ``DATASET:PART:split=S`` with PART ``test`` or ``val`` and S the train/val/test
split seed of app.ml.datasets.load_dataset, e.g. ``digits:test:split=0``. The hash covers the
rows' float32 features and int64 labels in little-endian C order, with their shapes, so anyone
holding the reference can check they evaluate on exactly the data the task owner named.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.ml.datasets import DATASETS, DatasetError, load_dataset

__all__ = ["EvalData", "eval_reference", "load_eval_data"]

_REFERENCE = re.compile(r"(?P<dataset>[a-z_]+):(?P<part>test|val):split=(?P<split>\d{1,9})")
_DOMAIN = b"synod/evaldata/v1"


@dataclass(frozen=True, eq=False)
class EvalData:
    """Evaluation rows, their reference and their content hash."""

    reference: str
    x: NDArray[np.float32]
    y: NDArray[np.int64]
    n_classes: int

    @property
    def digest(self) -> bytes:
        """SHA-256 over the domain, the shapes and the little-endian rows."""
        h = hashlib.sha256(_DOMAIN)
        h.update(np.asarray(self.x.shape + self.y.shape, dtype="<u8").tobytes())
        h.update(np.ascontiguousarray(self.x, dtype="<f4").tobytes())
        h.update(np.ascontiguousarray(self.y, dtype="<i8").tobytes())
        return h.digest()


def eval_reference(dataset: str, part: str = "test", split: int = 0) -> str:
    """Return the reference string of a dataset's test or validation rows."""
    return f"{dataset}:{part}:split={split}"


def load_eval_data(reference: str, expected_hash: bytes | None = None) -> EvalData:
    """Load the rows reference names; if expected_hash is given, they must hash to it."""
    match = _REFERENCE.fullmatch(reference)
    if match is None or match["dataset"] not in DATASETS:
        raise DatasetError(
            f"bad evaluation data reference {reference!r}; expected DATASET:test|val:split=S with DATASET "
            f"one of {', '.join(sorted(DATASETS))}"
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
