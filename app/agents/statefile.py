"""Agent state files: written durably (app/core/fsutil.py), read back with errors that say what to do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["StateFileError", "read_state_file"]

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
