"""Durable files, for every layer that keeps one (node, snapshots, clients, agents, the CLI): written
whole or not at all, and on disk before the call returns (the file and its directory fsynced), so a
crash or power loss never leaves a half-written trust anchor, light block, key, snapshot or agent
state, nor loses one that was reported written.

File I/O, not consensus: the state machine never calls these (DESIGN.md section 3); it lives in
app/core only so that app/state's snapshots and everything above can share one implementation.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["create_exclusively", "fsync_directory", "write_atomically", "write_synced"]


def fsync_directory(directory: Path) -> None:
    """Make a new or renamed entry of directory durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_fd(fd: int, data: bytes, mode: int) -> None:
    """Set the mode (open's mode is masked by the umask), write data, flush and fsync; close fd."""
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> Path:
    """Replace path with data: a temp file in the same directory, fsynced, renamed over path, then the
    directory fsynced. On any failure path is untouched and the temp file removed."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A unique name per call: two writers of one path never share (or truncate) a temp file.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _write_fd(fd, data, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
    return path


def create_exclusively(path: Path, data: bytes, mode: int = 0o600) -> Path:
    """Create path with data, failing with FileExistsError if it exists (never overwrite a key)."""
    path = Path(path)
    _write_fd(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), data, mode)
    fsync_directory(path.parent)
    return path


def write_synced(path: Path, data: bytes, mode: int = 0o644) -> Path:
    """Create or truncate path with data and fsync it, but not its directory: for the files of a
    temp directory that is then published whole by one rename (and fsync_directory of both)."""
    path = Path(path)
    _write_fd(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), data, mode)
    return path
