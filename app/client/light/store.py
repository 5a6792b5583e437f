"""The trusted-light-block store: one JSON file per kept height in a directory, bounded in size.

What it keeps is what verification needs, not every header ever verified:
- the client hands it only the blocks worth keeping (the trust anchor, each header reached by
  skipping, every `checkpoint_interval`-th header and the target of a sequential catch-up, the
  lowest header reached backwards), so a catch-up of N headers costs N / interval + 1 writes;
- each write is atomic and durable (app/core/fsutil.write_atomically), and only verified blocks are
  ever written, so whatever a crash leaves is a set of trusted blocks whose highest is a trusted
  state the client resumes from: a crash between checkpoints loses at most the headers verified
  since the last one, which the next run verifies again;
- past `max_blocks`, the oldest are pruned, except the lowest: the root of everything above it (the
  anchor, or the lowest header verified backwards). Forward verification needs only the highest
  block; a kept block above a height shortens the backward walk down to it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from app.client.light.errors import MalformedData
from app.client.light.types import LightBlock
from app.core.fsutil import fsync_directory, write_atomically

__all__ = ["DEFAULT_MAX_BLOCKS", "TrustedStore", "compute_pruned"]

DEFAULT_MAX_BLOCKS = 1000  # CometBFT's light client keeps as many (light.PruningSize)
_SUFFIX = ".json"


def compute_pruned(heights: Sequence[int], max_blocks: int) -> list[int]:
    """The heights to drop from ascending `heights` to keep max_blocks: the oldest but the lowest."""
    excess = len(heights) - max_blocks
    return list(heights[1 : 1 + excess]) if excess > 0 else []


class TrustedStore:
    """Verified light blocks, written only after verification, read back on restart.

    One writer per directory at a time: two clients sharing one would both stay correct (each file
    is a verified block) but could prune each other's blocks.
    """

    def __init__(self, directory: str | os.PathLike[str], max_blocks: int = DEFAULT_MAX_BLOCKS) -> None:
        """Use (and create if needed) directory, keeping at most max_blocks (at least 2) blocks."""
        if max_blocks < 2:
            raise ValueError(f"a store keeps its lowest and its highest block: max_blocks {max_blocks} < 2")
        self.directory = Path(directory)
        self.max_blocks = max_blocks
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, height: int) -> Path:
        """Zero-padded so that file names sort by height."""
        return self.directory / f"{height:020d}{_SUFFIX}"

    def save(self, block: LightBlock) -> None:
        """Write block atomically and durably, then prune the oldest blocks beyond max_blocks."""
        write_atomically(self._path(block.height), json.dumps(block.to_rpc(), sort_keys=True).encode(), 0o644)
        self._prune()

    def _prune(self) -> None:
        """Delete what compute_pruned names; the deletions are durable before this returns."""
        pruned = compute_pruned(self.heights(), self.max_blocks)
        for height in pruned:
            self._path(height).unlink(missing_ok=True)
        if pruned:
            fsync_directory(self.directory)

    def load(self, height: int) -> LightBlock | None:
        """The trusted block at height, or None if none is kept."""
        path = self._path(height)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            block = LightBlock.from_rpc(json.loads(text))
        except json.JSONDecodeError as exc:
            raise MalformedData(f"trusted store file {path} is not JSON: {exc}") from exc
        if block.height != height:
            raise MalformedData(f"trusted store file {path} holds height {block.height}")
        return block

    def heights(self) -> list[int]:
        """All kept heights, ascending."""
        stems = (name[: -len(_SUFFIX)] for name in os.listdir(self.directory) if name.endswith(_SUFFIX))
        return sorted(int(stem) for stem in stems if stem.isdigit())

    def latest(self) -> LightBlock | None:
        """The highest trusted block, or None for an empty store."""
        heights = self.heights()
        return self.load(heights[-1]) if heights else None
