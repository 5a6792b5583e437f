"""A committee member's durable memory: per (task, round) the salted attestation it committed to.

The file is written (temp file, fsync, rename) *before* the commitment is broadcast, so a member
killed at any point can still reveal what it committed to, and never commits to second, different
scores in a round whose commitment may already be on chain. Layout, with STATE_DIR defaulting to
``HOME/committee/ADDRESS/``::

    STATE_DIR/task-000001-round-000002.json    the reveal (MsgAttest, salt included) and its commitment
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from app.agents.statefile import StateFileError, read_state_file
from app.client.committeetx import msg_commit_attestation
from app.core.fsutil import write_atomically
from synod.committee.v1 import tx_pb2

__all__ = [
    "SavedAttestation",
    "StateFileError",
    "default_state_dir",
    "load_attestation",
    "save_attestation",
]

_VERSION = 1


@dataclass(frozen=True)
class SavedAttestation:
    """What a member committed to in one round, enough to reveal it later."""

    reveal: tx_pb2.MsgAttest
    evaluated: bool  # the scores come from an evaluation (False: an attack that skipped it)
    honest: bool  # the scores are the evaluated ones

    @property
    def commitment(self) -> bytes:
        """The hash MsgCommitAttestation carries: bound to the attester, task and round."""
        return msg_commit_attestation(self.reveal).commitment

    def to_json(self) -> str:
        """The file's text."""
        doc = {
            "version": _VERSION,
            "task_id": self.reveal.task_id,
            "round": self.reveal.round,
            "attester": self.reveal.attester,
            "reveal": base64.b64encode(self.reveal.SerializeToString(deterministic=True)).decode(),
            "evaluated": self.evaluated,
            "honest": self.honest,
            "commitment": self.commitment.hex(),
        }
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SavedAttestation:
        """Parse a file's text, checking that it reproduces the commitment it recorded."""
        doc = json.loads(text)
        if doc.get("version") != _VERSION:
            raise ValueError(f"unknown state file version {doc.get('version')!r}")
        reveal = tx_pb2.MsgAttest.FromString(base64.b64decode(doc["reveal"], validate=True))
        if (reveal.task_id, reveal.round, reveal.attester) != (doc["task_id"], doc["round"], doc["attester"]):
            raise ValueError("its reveal names another task, round or attester than the file")
        saved = cls(reveal, bool(doc["evaluated"]), bool(doc["honest"]))
        if saved.commitment.hex() != doc["commitment"]:
            raise ValueError("its reveal does not hash to the commitment it recorded")
        return saved


def default_state_dir(home: str | Path, address: str) -> Path:
    """HOME/committee/ADDRESS."""
    return Path(home).expanduser() / "committee" / address


def _path(directory: Path, task_id: int, round_: int) -> Path:
    """The file of one (task, round)."""
    return Path(directory) / f"task-{task_id:06d}-round-{round_:06d}.json"


def save_attestation(directory: Path, saved: SavedAttestation) -> Path:
    """Write the round's file atomically and return its path."""
    path = _path(directory, saved.reveal.task_id, saved.reveal.round)
    return write_atomically(path, saved.to_json().encode())


def load_attestation(directory: Path, task_id: int, round_: int, attester: str) -> SavedAttestation | None:
    """The attestation saved for a round, or None; a damaged or foreign file raises StateFileError."""
    path = _path(directory, task_id, round_)
    saved = read_state_file(path, SavedAttestation.from_json, "committee member")
    if saved is not None and saved.reveal.attester != attester:
        raise StateFileError(
            f"{path} belongs to {saved.reveal.attester}, not {attester}: use a --state-dir of this key"
        )
    return saved
