"""tasks parameters."""

from __future__ import annotations

from app.modules.tasks.aggregation.base import MAX_TOTAL_WEIGHT
from synod.tasks.v1 import tasks_pb2

__all__ = ["default_params", "validate_params"]


def default_params() -> tasks_pb2.Params:
    """Defaults: models up to 4M parameters (an 8 MB update travels in MsgRevealPart pieces of up to
    one transaction each; a 16 MB checkpoint is derived from init_seed); 256 MiB of checkpoints kept
    per task (64 rounds of 1M parameters, 16 of 4M); aggregation bounded at 2^27 entry operations
    per round (mean over 128 workers x 1M or 32 x 4M, median over 16 x 2M, krum over 16 x 1M):
    bench/growth measures about a second of end-block work and 2-3 GB of memory there (the rules
    hold int64 copies of every entry). A block's end-block does at most that over all tasks
    (max_block_aggregation_work): one of the largest rounds, or many small ones (bench/worstcase:
    two rounds at the bound in one block took 1.3 s, over the localnet's 0.54 s block interval)."""
    return tasks_pb2.Params(
        max_rounds=1000,
        max_phase_blocks=10_000,
        max_workers=128,
        max_model_params=4 << 20,
        max_description_chars=512,
        missed_reveal_slash_bps=1_000,
        rejected_update_slash_bps=2_000,
        max_trace_checkpoints=64,
        checkpoint_retention_bytes=256 << 20,
        max_aggregation_work=1 << 27,
        max_block_aggregation_work=1 << 27,
        max_num_samples=1_000_000,
    )


def validate_params(p: tasks_pb2.Params) -> None:
    """Reject unusable parameters."""
    for name in (
        "max_rounds",
        "max_phase_blocks",
        "max_workers",
        "max_model_params",
        "checkpoint_retention_bytes",
        "max_aggregation_work",
        "max_block_aggregation_work",
        "max_num_samples",
    ):
        if getattr(p, name) == 0:
            raise ValueError(f"tasks.{name} must be positive")
    for name in ("missed_reveal_slash_bps", "rejected_update_slash_bps"):
        if getattr(p, name) > 10_000:
            raise ValueError(f"tasks.{name} is in basis points and must be at most 10000")
    if p.max_num_samples * p.max_workers > MAX_TOTAL_WEIGHT:
        # Then a round's total weight always fits the rules' bound: the cap removes the veto too.
        raise ValueError(
            f"tasks.max_num_samples x tasks.max_workers ({p.max_num_samples} x {p.max_workers}) must be "
            f"at most {MAX_TOTAL_WEIGHT}, the aggregation rules' total weight"
        )
    if p.max_aggregation_work > p.max_block_aggregation_work:
        raise ValueError(
            f"tasks.max_aggregation_work ({p.max_aggregation_work}) must be at most "
            f"tasks.max_block_aggregation_work ({p.max_block_aggregation_work}): every round must fit a block"
        )
