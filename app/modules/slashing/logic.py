"""Pure slashing rules."""

from __future__ import annotations

__all__ = ["BPS", "compute_max_missed", "is_downtime"]

BPS = 10_000


def compute_max_missed(window: int, min_signed_bps: int) -> int:
    """The most blocks a validator may miss in a window."""
    return window - window * min_signed_bps // BPS


def is_downtime(missed: int, window: int, min_signed_bps: int) -> bool:
    """True once a validator missed more than the window allows."""
    return missed > compute_max_missed(window, min_signed_bps)
