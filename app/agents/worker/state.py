"""A worker's durable memory: one JSON file per round with the salt, update and sample count it committed.

The file is written (temp file, fsync, rename) *before* the commitment is broadcast, so a worker
killed at any point can still reveal what it committed to, and never trains a second, different
update for a round whose commitment may already be on chain. Layout:
``STATE_DIR/round-000003.json`` with STATE_DIR defaulting to ``HOME/worker/task-ID-ADDRESS/``.

Version 2 adds the training trace and data spec of trace tasks (both bound by the commitment) and
the withhold flag of a worker attacking with withhold; version 1 files (neither) still load.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from app.agents.statefile import StateFileError, read_state_file
from app.core.crypto import decode_address
from app.core.fsutil import write_atomically
from app.modules.tasks.logic import compute_commitment

__all__ = ["SavedUpdate", "StateFileError", "default_state_dir", "load_update", "save_update"]

_VERSION = 2
_READABLE_VERSIONS = (1, 2)


@dataclass(frozen=True)
class SavedUpdate:
    """What a worker commits to in one round, enough to reveal it later."""

    task_id: int
    round: int
    worker: str
    salt: bytes
    num_samples: int
    update: bytes  # int16 little-endian fixed point (UPDATE_FORMAT), as revealed
    model_hash: bytes  # the global model the update was trained from
    trace: bytes = b""  # trace tasks: the int32 checkpoints revealed beside the update
    data_spec: str = ""  # trace tasks: the public shard the trace was trained on
    withhold: bool = False  # an attacking worker that commits and never reveals

    @property
    def commitment(self) -> bytes:
        """The hash MsgCommitUpdate carries for this update."""
        return compute_commitment(
            self.task_id,
            self.round,
            decode_address(self.worker),
            self.salt,
            self.num_samples,
            self.update,
            self.trace,
            self.data_spec,
        )

    def to_json(self) -> str:
        """The file's text."""
        doc = {
            "version": _VERSION,
            "task_id": self.task_id,
            "round": self.round,
            "worker": self.worker,
            "salt": self.salt.hex(),
            "num_samples": self.num_samples,
            "update": base64.b64encode(self.update).decode(),
            "model_hash": self.model_hash.hex(),
            "trace": base64.b64encode(self.trace).decode(),
            "data_spec": self.data_spec,
            "withhold": self.withhold,
            "commitment": self.commitment.hex(),
        }
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SavedUpdate:
        """Parse a file's text, checking that it reproduces the commitment it recorded."""
        doc = json.loads(text)
        if doc.get("version") not in _READABLE_VERSIONS:
            raise ValueError(f"unknown state file version {doc.get('version')!r}")
        saved = cls(
            task_id=int(doc["task_id"]),
            round=int(doc["round"]),
            worker=str(doc["worker"]),
            salt=bytes.fromhex(doc["salt"]),
            num_samples=int(doc["num_samples"]),
            update=base64.b64decode(doc["update"], validate=True),
            model_hash=bytes.fromhex(doc["model_hash"]),
            trace=base64.b64decode(doc.get("trace", ""), validate=True),
            data_spec=str(doc.get("data_spec", "")),
            withhold=doc.get("withhold", False) is True,
        )
        if saved.commitment.hex() != doc["commitment"]:
            raise ValueError("its fields do not hash to the commitment it recorded")
        return saved


def default_state_dir(home: str | Path, task_id: int, address: str) -> Path:
    """HOME/worker/task-ID-ADDRESS."""
    return Path(home).expanduser() / "worker" / f"task-{task_id}-{address}"


def _path(directory: Path, round_: int) -> Path:
    """The file of one round."""
    return Path(directory) / f"round-{round_:06d}.json"


def save_update(directory: Path, saved: SavedUpdate) -> Path:
    """Write the round's file atomically (temp file, fsync, rename) and return its path."""
    return write_atomically(_path(Path(directory), saved.round), saved.to_json().encode())


def load_update(directory: Path, task_id: int, round_: int, worker: str) -> SavedUpdate | None:
    """The update saved for a round, or None; a damaged or foreign file raises StateFileError."""
    path = _path(Path(directory), round_)
    saved = read_state_file(path, SavedUpdate.from_json, "worker")
    if saved is None:
        return None
    if (saved.task_id, saved.round, saved.worker) != (task_id, round_, worker):
        raise StateFileError(
            f"{path} belongs to task {saved.task_id} round {saved.round} of {saved.worker}, not task "
            f"{task_id} round {round_} of {worker}: use a --state-dir of this task and key"
        )
    return saved
