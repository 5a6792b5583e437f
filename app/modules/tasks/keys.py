"""tasks store keys: module prefix 0x05, then one-byte tables (big-endian integers)."""

from __future__ import annotations

from app.core.codec import u64be

__all__ = [
    "STORE_PREFIX",
    "PARAMS",
    "TASK",
    "NEXT_TASK_ID",
    "PARTICIPANT",
    "COMMITMENT",
    "REVEAL",
    "UPDATE",
    "ROUND",
    "MODEL",
    "SCHEDULE",
    "TRACE",
    "CLOSING",
    "TABLES",
    "task_key",
    "participant_key",
    "commitment_key",
    "reveal_key",
    "update_key",
    "round_key",
    "model_key",
    "schedule_key",
    "trace_key",
    "progress_key",
    "part_key",
    "staged_key",
    "model_refs_key",
    "closing_key",
]

STORE_PREFIX = b"\x05"

PARAMS = b"\x00"  # -> tasks.v1.Params
TASK = b"\x01"  # + task id(8) -> tasks.v1.Task
NEXT_TASK_ID = b"\x02"  # -> u64be
PARTICIPANT = b"\x03"  # + task id(8) + worker(20) -> tasks.v1.Participant
COMMITMENT = b"\x04"  # + task id(8) + round(4) + worker(20) -> tasks.v1.Commitment (until aggregated)
REVEAL = b"\x05"  # + task id(8) + round(4) + worker(20) -> tasks.v1.Reveal (until aggregated)
UPDATE = b"\x06"  # + task id(8) + round(4) + worker(20) -> int16 update payload (until aggregated)
ROUND = b"\x07"  # + task id(8) + round(4) -> tasks.v1.RoundRecord (one checkpoint per round, kept)
MODEL = b"\x08"  # + sha256(32) -> int32 weights payload (content-addressed, while referenced)
SCHEDULE = b"\x09"  # + height(8) + task id(8) -> b"": the end-block of height has work for the task
TRACE = b"\x0a"  # + task id(8) + round(4) + worker(20) -> int32 trace checkpoints (until aggregated)
PROGRESS = b"\x0b"  # + task id(8) -> tasks.v1.RoundProgress (the open round's counts, while running)
PART = b"\x0c"  # + task id(8) + round(4) + worker(20) + index(4) -> a staged update part (until aggregated)
STAGED = b"\x0d"  # + task id(8) + round(4) + worker(20) -> tasks.v1.StagedUpdate (until aggregated)
MODEL_REFS = b"\x0e"  # + sha256(32) -> u64be: round records whose retained checkpoint is these weights
# + closed height(8) + task id(8) -> b"": a closed phase whose end-block work waits for the block budget
CLOSING = b"\x0f"

TABLES = {
    "params": PARAMS,
    "task": TASK,
    "next_task_id": NEXT_TASK_ID,
    "participant": PARTICIPANT,
    "commitment": COMMITMENT,
    "reveal": REVEAL,
    "update": UPDATE,
    "round": ROUND,
    "model": MODEL,
    "schedule": SCHEDULE,
    "trace": TRACE,
    "progress": PROGRESS,
    "part": PART,
    "staged": STAGED,
    "model_refs": MODEL_REFS,
    "closing": CLOSING,
}


def _u32be(n: int) -> bytes:
    """A round number as 4 big-endian bytes."""
    return n.to_bytes(4, "big")


def task_key(task_id: int) -> bytes:
    """Key of one task."""
    return TASK + u64be(task_id)


def participant_key(task_id: int, worker: bytes = b"") -> bytes:
    """Key of one participant, or (no worker) the prefix of a task's participants."""
    return PARTICIPANT + u64be(task_id) + worker


def commitment_key(task_id: int, round_: int, worker: bytes = b"") -> bytes:
    """Key of one commitment, or (no worker) the prefix of a round's commitments."""
    return COMMITMENT + u64be(task_id) + _u32be(round_) + worker


def reveal_key(task_id: int, round_: int, worker: bytes = b"") -> bytes:
    """Key of one reveal, or (no worker) the prefix of a round's reveals."""
    return REVEAL + u64be(task_id) + _u32be(round_) + worker


def update_key(task_id: int, round_: int, worker: bytes = b"") -> bytes:
    """Key of one revealed update payload, or (no worker) the prefix of a round's payloads."""
    return UPDATE + u64be(task_id) + _u32be(round_) + worker


def round_key(task_id: int, round_: int | None = None) -> bytes:
    """Key of one round's checkpoint record, or (no round) the prefix of a task's records."""
    return ROUND + u64be(task_id) + (b"" if round_ is None else _u32be(round_))


def model_key(model_hash: bytes) -> bytes:
    """Key of a model checkpoint's weights, by content hash."""
    return MODEL + model_hash


def schedule_key(height: int, task_id: int | None = None) -> bytes:
    """Key of a task's end-block work at height, or (no task) the prefix of that height's work."""
    return SCHEDULE + u64be(height) + (b"" if task_id is None else u64be(task_id))


def trace_key(task_id: int, round_: int, worker: bytes = b"") -> bytes:
    """Key of one revealed training trace, or (no worker) the prefix of a round's traces."""
    return TRACE + u64be(task_id) + _u32be(round_) + worker


def progress_key(task_id: int) -> bytes:
    """The open round's commitment and reveal counts."""
    return PROGRESS + u64be(task_id)


def part_key(task_id: int, round_: int, worker: bytes = b"", index: int | None = None) -> bytes:
    """Key of one staged part, or the prefix of a worker's parts (no index) or a round's (no worker)."""
    return PART + u64be(task_id) + _u32be(round_) + worker + (b"" if index is None else _u32be(index))


def staged_key(task_id: int, round_: int, worker: bytes = b"") -> bytes:
    """Key of a worker's staged-part count, or (no worker) the prefix of a round's."""
    return STAGED + u64be(task_id) + _u32be(round_) + worker


def model_refs_key(model_hash: bytes) -> bytes:
    """Key of the reference count of a checkpoint's weights."""
    return MODEL_REFS + model_hash


def closing_key(height: int | None = None, task_id: int | None = None) -> bytes:
    """Key of a waiting closed phase (closed at height), or (no height) the prefix of all of them."""
    if height is None:
        return CLOSING
    return CLOSING + u64be(height) + (b"" if task_id is None else u64be(task_id))
