"""tasks parameters."""

from __future__ import annotations

from synod.tasks.v1 import tasks_pb2

__all__ = ["default_params", "validate_params"]


def default_params() -> tasks_pb2.Params:
    """Defaults sized so one reveal (2 bytes per parameter) fits a 1 MiB transaction."""
    return tasks_pb2.Params(
        max_rounds=1000,
        max_phase_blocks=10_000,
        max_workers=128,
        max_model_params=200_000,
        max_description_chars=512,
        missed_reveal_slash_bps=1_000,
        rejected_update_slash_bps=2_000,
        max_trace_checkpoints=64,
    )


def validate_params(p: tasks_pb2.Params) -> None:
    """Reject unusable parameters."""
    for name in ("max_rounds", "max_phase_blocks", "max_workers", "max_model_params"):
        if getattr(p, name) == 0:
            raise ValueError(f"tasks.{name} must be positive")
    for name in ("missed_reveal_slash_bps", "rejected_update_slash_bps"):
        if getattr(p, name) > 10_000:
            raise ValueError(f"tasks.{name} is in basis points and must be at most 10000")
