"""Durable files for clients, agents and nodes: written whole or not at all, and on disk before the
call returns (the file and its directory fsynced), so a crash or power loss never leaves a half-written
trust anchor, light block, key or agent state, nor loses one that was reported written."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["create_exclusively", "write_atomically"]


def _fsync_directory(directory: Path) -> None:
    """Make a new or renamed entry of directory durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> Path:
    """Replace path with data through a temp file, fsync and rename, then fsync the directory."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_directory(path.parent)
    return path


def create_exclusively(path: Path, data: bytes, mode: int = 0o600) -> Path:
    """Create path with data, failing with FileExistsError if it exists (never overwrite a key)."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)  # the umask masks open's mode
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_directory(path.parent)
    return path
