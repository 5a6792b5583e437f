"""What `synod tx consensus query` posts and `reveal-labels` reveals: the inputs file, the inputs
reference, a labels file, and the poster's local record of committed labels and their salt.

The record is written under HOME/consensus/labels/COMMITMENT.json *before* the query is broadcast
(the salt exists nowhere else), and found again by the labels_commitment the query carries on chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.fsutil import write_atomically

__all__ = [
    "INPUTS_FILE_HELP",
    "InputsError",
    "LabelsRecord",
    "PostedInputs",
    "find_labels",
    "load_inputs_file",
    "load_inputs_uri",
    "read_labels_file",
    "save_labels",
]

INPUTS_FILE_HELP = (
    'The inputs file is JSON: {"inputs": [[f1, f2, ...], ...], "label_count": K, "labels": [c, ...]}, '
    "one row of numbers per input (all rows the same width, stored as float32); label_count (the "
    "number of classes, overridden by --labels) and labels (the true class of each input, used only "
    "by --commit-labels and never sent) are optional. A labels file is a JSON list of classes, or "
    '{"labels": [...]}.'
)


class InputsError(ValueError):
    """An inputs or labels file is malformed; the message says what to fix."""


@dataclass(frozen=True)
class PostedInputs:
    """Inputs ready for MsgPostQuery: the blob (inline) or a reference to it, and what is known of them."""

    blob: bytes
    input_count: int
    inline: bool
    uri: str = ""
    label_count: int | None = None
    labels: list[int] | None = None


def _labels(values: Any, where: str) -> list[int]:
    """A list of non-negative class integers below 256."""
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 256 for v in values
    ):
        raise InputsError(f"{where}: labels must be a list of classes, integers 0..255")
    return values


def load_inputs_file(path: str) -> PostedInputs:
    """Read and encode an inputs file (INPUTS_FILE_HELP)."""
    from app.ml.queryinputs import QueryInputsError, encode_inputs

    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InputsError(f"cannot read inputs file {path}: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list):
        raise InputsError(f'{path}: expected a JSON object with an "inputs" list of rows')
    try:
        blob = encode_inputs(doc["inputs"])
    except (QueryInputsError, ValueError, TypeError) as e:
        raise InputsError(f"{path}: {e}") from None
    count = doc.get("label_count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 2):
        raise InputsError(f"{path}: label_count must be an integer >= 2")
    labels = _labels(doc["labels"], path) if "labels" in doc else None
    return PostedInputs(blob, len(doc["inputs"]), True, label_count=count, labels=labels)


def load_inputs_uri(uri: str, inline: bool) -> PostedInputs:
    """Resolve a reference (e.g. synod:digits/test?start=0&count=50); inline sends its rows on chain."""
    from app.ml.queryinputs import QueryInputsError, decode_inputs, resolve_inputs_uri

    try:
        blob, labels = resolve_inputs_uri(uri)
        count = len(decode_inputs(blob))
    except (QueryInputsError, ValueError) as e:
        raise InputsError(f"--inputs-uri: {e}") from None
    known = None if labels is None else [int(v) for v in labels]
    return PostedInputs(blob, count, inline, "" if inline else uri, labels=known)


def read_labels_file(path: str) -> list[int]:
    """A labels file: a JSON list of classes, or {"labels": [...]}."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InputsError(f"cannot read labels file {path}: {e}") from None
    return _labels(doc.get("labels") if isinstance(doc, dict) else doc, path)


@dataclass(frozen=True)
class LabelsRecord:
    """A poster's committed labels and the salt of the commitment, kept until they are revealed."""

    poster: str
    labels: bytes
    salt: bytes
    commitment: bytes

    def to_json(self) -> str:
        """The file's text."""
        doc = {
            "poster": self.poster,
            "labels": list(self.labels),
            "salt": self.salt.hex(),
            "commitment": self.commitment.hex(),
        }
        return json.dumps(doc, indent=2) + "\n"


def _labels_dir(home: str) -> Path:
    """HOME/consensus/labels."""
    return Path(home).expanduser() / "consensus" / "labels"


def save_labels(home: str, record: LabelsRecord) -> Path:
    """Write the record atomically and durably (app/core/fsutil.py), readable by its owner only:
    without it the labels cannot be revealed."""
    return write_atomically(_labels_dir(home) / f"{record.commitment.hex()}.json", record.to_json().encode())


def find_labels(home: str, commitment: bytes) -> LabelsRecord | None:
    """The record saved for a labels commitment, or None; a damaged file raises InputsError."""
    path = _labels_dir(home) / f"{commitment.hex()}.json"
    try:
        doc = json.loads(path.read_text())
        return LabelsRecord(
            str(doc["poster"]),
            bytes(_labels(doc["labels"], str(path))),
            bytes.fromhex(doc["salt"]),
            bytes.fromhex(doc["commitment"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputsError(f"{path} is damaged ({e})") from None
