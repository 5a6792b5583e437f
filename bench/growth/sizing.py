"""The arithmetic of a round's size: bytes, transactions, blocks, state, the work bound, the wall-time model.

Every function here is pure and uses the chain's own constants and functions (PART_BYTES and
split_update, compute_work, compute_kept_checkpoints, the default tasks params), so the table moves
when the code does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.client.tasktx import PART_BYTES, split_update
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT
from app.modules.tasks.aggregation import Params, compute_work, make_params
from app.modules.tasks.hooks import compute_kept_checkpoints
from app.modules.tasks.params import default_params

__all__ = [
    "BLOCK_MAX_BYTES",
    "EARLY_CLOSE_BLOCKS",
    "RoundSize",
    "compute_largest_size",
    "compute_model_seconds",
    "compute_round_size",
    "format_bytes",
    "is_refused",
    "make_rule_params",
]

# CometBFT's default consensus param block.max_bytes (21 MiB); the localnet keeps it.
BLOCK_MAX_BYTES = 22_020_096
# An early-closed round still spans four blocks: the commits' block, the commit phase's close, the
# reveals' block, and the reveal phase's close where end-block aggregates.
EARLY_CLOSE_BLOCKS = 4


@dataclass(frozen=True)
class RoundSize:
    """What one round of n updates of d parameters moves and keeps."""

    reveal_bytes: int  # the n int16 updates, carried through the mempool and in blocks
    download_bytes: int  # each worker's download of the int32 checkpoint
    parts_per_update: int  # MsgRevealPart txs before the closing MsgRevealUpdate
    txs: int  # n x (commit + parts + closing reveal)
    reveal_blocks: int  # blocks of BLOCK_MAX_BYTES the reveal payloads fill at the least
    state_bytes: int  # the retained checkpoint (updates are deleted when the round closes)
    kept_checkpoints: int  # checkpoints a task holds at most: retention policy, capped by max_rounds + 1

    @property
    def round_bytes(self) -> int:
        """Reveals plus downloads: n x 2d + n x 4d."""
        return self.reveal_bytes + self.download_bytes

    @property
    def state_bound_bytes(self) -> int:
        """The most checkpoint bytes a task holds at once under the retention policy."""
        return self.kept_checkpoints * self.state_bytes


def make_rule_params(rule: str, workers: int) -> Params:
    """The rule's parameters for n workers: krum assumes the most Byzantine workers n admits."""
    if rule != "krum":
        return make_params(rule, {})
    # Krum needs n >= 2f + 3 (min_updates), so f = (n - 3) // 2 is the largest f that fits.
    params = make_params(rule, {"byzantine": max(0, (workers - 3) // 2)})
    assert params.min_updates() <= workers, (rule, workers)
    return params


def is_refused(rule: str, workers: int, size: int) -> tuple[bool, int]:
    """Whether the chain refuses such a task at post time (work over max_aggregation_work), and the work."""
    work = compute_work(rule, make_rule_params(rule, workers), workers, size)
    return work > default_params().max_aggregation_work, work


def bound_label() -> str:
    """The default max_aggregation_work as a power of two, e.g. "2^27"."""
    return f"2^{default_params().max_aggregation_work.bit_length() - 1}"


def compute_round_size(workers: int, size: int) -> RoundSize:
    """The bytes, transactions, blocks and state of one round of `workers` updates of `size` parameters."""
    update_bytes = UPDATE_FORMAT.width * size
    checkpoint_bytes = WEIGHT_FORMAT.width * size
    parts, _ = split_update(bytes(update_bytes), PART_BYTES)
    reveal_bytes = workers * update_bytes
    return RoundSize(
        reveal_bytes=reveal_bytes,
        download_bytes=workers * checkpoint_bytes,
        parts_per_update=len(parts),
        txs=workers * (1 + len(parts) + 1),
        reveal_blocks=math.ceil(reveal_bytes / BLOCK_MAX_BYTES),
        state_bytes=checkpoint_bytes,
        kept_checkpoints=_compute_kept(checkpoint_bytes),
    )


def _compute_kept(checkpoint_bytes: int) -> int:
    """Checkpoints a task holds at once: what checkpoint_retention_bytes keeps (at least two), and
    never more than a task ever makes (its initial weights and one per round, max_rounds)."""
    params = default_params()
    return min(compute_kept_checkpoints(params, checkpoint_bytes), params.max_rounds + 1)


def compute_model_seconds(
    reveal_bytes: int, end_block_s: float, block_s: float, bytes_per_s: float
) -> tuple[float, float, float]:
    """(model, floor, transport) seconds of a round: max(early-close floor, reveal transport)."""
    floor = EARLY_CLOSE_BLOCKS * block_s + end_block_s
    transport = reveal_bytes / bytes_per_s
    return max(floor, transport), floor, transport


def compute_largest_size(rule: str, workers: int) -> int:
    """The largest model size (up to max_model_params) the chain accepts for the rule at n workers."""
    low, high = 0, default_params().max_model_params
    while low < high:  # compute_work grows with size: bisect for the last size within the bound
        middle = (low + high + 1) // 2
        if is_refused(rule, workers, middle)[0]:
            high = middle - 1
        else:
            low = middle
    return low


def format_bytes(count: int) -> str:
    """Bytes in binary units (KiB, MiB, GiB), the units of the chain's own limits."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count} B"
