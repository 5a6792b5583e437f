"""A small trusted-light-block store: one JSON file per verified height in a directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

from app.client.light.errors import MalformedData
from app.client.light.types import LightBlock
from app.core.fsutil import write_atomically

__all__ = ["TrustedStore"]

_SUFFIX = ".json"


class TrustedStore:
    """Verified light blocks, written only after verification, read back on restart."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        """Use (and create if needed) directory."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, height: int) -> Path:
        """Zero-padded so that file names sort by height."""
        return self.directory / f"{height:020d}{_SUFFIX}"

    def save(self, block: LightBlock) -> None:
        """Write block atomically and durably, so a crash never leaves half a file or loses a verified one."""
        write_atomically(self._path(block.height), json.dumps(block.to_rpc(), sort_keys=True).encode(), 0o644)

    def load(self, height: int) -> LightBlock | None:
        """The trusted block at height, or None if none was stored."""
        path = self._path(height)
        if not path.exists():
            return None
        try:
            block = LightBlock.from_rpc(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise MalformedData(f"trusted store file {path} is not JSON: {exc}") from exc
        if block.height != height:
            raise MalformedData(f"trusted store file {path} holds height {block.height}")
        return block

    def heights(self) -> list[int]:
        """All stored heights, ascending."""
        return sorted(
            int(p.name[: -len(_SUFFIX)])
            for p in self.directory.glob(f"*{_SUFFIX}")
            if p.name[: -len(_SUFFIX)].isdigit()
        )

    def latest(self) -> LightBlock | None:
        """The highest trusted block, or None for an empty store."""
        heights = self.heights()
        return self.load(heights[-1]) if heights else None
