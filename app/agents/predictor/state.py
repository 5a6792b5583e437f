"""A predictor's durable memory: its trained model, and per round the salt and predictions it committed.

Each round's file is written (temp file, fsync, rename) *before* the commitment is broadcast, so a
predictor killed at any point can still reveal what it committed to, and never commits to second,
different predictions in a round whose commitment may already be on chain. The model is saved once
trained, so a restart neither retrains nor predicts differently. Layout, with STATE_DIR defaulting to
``HOME/predictor/query-ID-ADDRESS/``::

    STATE_DIR/model.npz            arch, data spec, seed and the flat float32 weights
    STATE_DIR/round-000002.json    one round's salt, predictions and commitment
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from app.agents.statefile import StateFileError, read_state_file
from app.core.crypto import decode_address
from app.core.fsutil import write_atomically
from app.modules.consensus.logic import compute_commitment

__all__ = [
    "SavedModel",
    "SavedPredictions",
    "StateFileError",
    "default_state_dir",
    "load_model",
    "load_predictions",
    "save_model",
    "save_predictions",
]

_VERSION = 1


@dataclass(frozen=True)
class SavedPredictions:
    """What a predictor commits to in one round, enough to reveal it later."""

    query_id: int
    round: int
    participant: str
    salt: bytes
    predictions: bytes  # app/modules/consensus/logic.encode_predictions format
    source: str = "model"  # how they were made: model, revised, or attack:NAME

    @property
    def commitment(self) -> bytes:
        """The hash MsgCommitPredictions carries: bound to the participant, query and round."""
        return compute_commitment(
            decode_address(self.participant), self.query_id, self.round, self.salt, self.predictions
        )

    def to_json(self) -> str:
        """The file's text."""
        doc = {
            "version": _VERSION,
            "query_id": self.query_id,
            "round": self.round,
            "participant": self.participant,
            "salt": self.salt.hex(),
            "predictions": base64.b64encode(self.predictions).decode(),
            "source": self.source,
            "commitment": self.commitment.hex(),
        }
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SavedPredictions:
        """Parse a file's text, checking that it reproduces the commitment it recorded."""
        doc = json.loads(text)
        if doc.get("version") != _VERSION:
            raise ValueError(f"unknown state file version {doc.get('version')!r}")
        saved = cls(
            query_id=int(doc["query_id"]),
            round=int(doc["round"]),
            participant=str(doc["participant"]),
            salt=bytes.fromhex(doc["salt"]),
            predictions=base64.b64decode(doc["predictions"], validate=True),
            source=str(doc.get("source", "model")),
        )
        if saved.commitment.hex() != doc["commitment"]:
            raise ValueError("its fields do not hash to the commitment it recorded")
        return saved


@dataclass(frozen=True, eq=False)
class SavedModel:
    """A trained local model: what it was trained as, and its flat weights."""

    arch: str
    data_spec: str
    seed: int
    n_features: int
    weights: NDArray[np.float32]


def default_state_dir(home: str | Path, query_id: int, address: str) -> Path:
    """HOME/predictor/query-ID-ADDRESS."""
    return Path(home).expanduser() / "predictor" / f"query-{query_id}-{address}"


def _round_path(directory: Path, round_: int) -> Path:
    """The file of one round."""
    return Path(directory) / f"round-{round_:06d}.json"


def save_predictions(directory: Path, saved: SavedPredictions) -> Path:
    """Write the round's file atomically and return its path."""
    return write_atomically(_round_path(directory, saved.round), saved.to_json().encode())


def load_predictions(
    directory: Path, query_id: int, round_: int, participant: str
) -> SavedPredictions | None:
    """The predictions saved for a round, or None; a damaged or foreign file raises StateFileError."""
    path = _round_path(directory, round_)
    saved = read_state_file(path, SavedPredictions.from_json, "predictor")
    if saved is None:
        return None
    if (saved.query_id, saved.round, saved.participant) != (query_id, round_, participant):
        raise StateFileError(
            f"{path} belongs to query {saved.query_id} round {saved.round} of {saved.participant}, not "
            f"query {query_id} round {round_} of {participant}: use a --state-dir of this query and key"
        )
    return saved


def save_model(directory: Path, model: SavedModel) -> Path:
    """Write model.npz atomically."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        arch=np.array(model.arch),
        data_spec=np.array(model.data_spec),
        seed=np.array(model.seed),
        n_features=np.array(model.n_features),
        weights=np.asarray(model.weights, np.float32),
    )
    return write_atomically(Path(directory) / "model.npz", buffer.getvalue())


def load_model(directory: Path) -> SavedModel | None:
    """The saved model, or None; an unreadable file raises StateFileError."""
    path = Path(directory) / "model.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            return SavedModel(
                str(data["arch"]),
                str(data["data_spec"]),
                int(data["seed"]),
                int(data["n_features"]),
                np.asarray(data["weights"], np.float32),
            )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as e:
        raise StateFileError(f"{path} is damaged ({e}); move it away to retrain") from None
