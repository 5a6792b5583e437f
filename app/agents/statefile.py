"""Durable agent files: written whole or not at all, so a crash never leaves a half-written state."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["StateFileError", "read_state_file", "write_atomically"]

T = TypeVar("T")


class StateFileError(Exception):
    """A state file is unreadable, damaged, foreign, or does not match its own commitment."""


def read_state_file(path: Path, parse: Callable[[str], T], agent: str) -> T | None:
    """The file at path parsed, or None if there is none; unreadable or damaged raises StateFileError."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StateFileError(f"cannot read {path}: {e}") from None
    try:
        return parse(text)
    except (ValueError, KeyError, TypeError) as e:
        raise StateFileError(f"{path} is damaged ({e}); move it away to let the {agent} continue") from None


def write_atomically(path: Path, data: bytes) -> Path:
    """Write data to path through a temp file, fsync and rename, then fsync the directory (mode 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path
