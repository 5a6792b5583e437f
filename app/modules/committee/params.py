"""committee parameters."""

from __future__ import annotations

from synod.committee.v1 import committee_pb2

__all__ = ["default_params", "validate_params"]


def default_params() -> committee_pb2.Params:
    """Defaults: size committees for 30% adversarial stake at a 1e-3 capture target."""
    return committee_pb2.Params(
        adversarial_stake_bps=3_000,
        capture_target_ppb=1_000_000,
        max_committee_size=64,
        max_score_drop_bps=1_000,
        attest_tolerance_bps=500,
        max_member_faults=2,
        member_slash_bps=100,
        reputation_window=8,
        initial_reputation_bps=5_000,
        committee_reward_bps=1_000,
        min_direction_bps=-1_000,
        eval_sample_rows=16,
        max_norm_ratio_bps=80_000,
    )


def validate_params(p: committee_pb2.Params) -> None:
    """Reject unusable parameters."""
    for name in (
        "adversarial_stake_bps",
        "initial_reputation_bps",
        "committee_reward_bps",
        "member_slash_bps",
    ):
        if getattr(p, name) > 10_000:
            raise ValueError(f"committee.{name} is in basis points and must be at most 10000")
    if not 1 <= p.max_committee_size <= 1_000:
        raise ValueError("committee.max_committee_size must be between 1 and 1000")
    if p.reputation_window == 0 or p.max_member_faults == 0:
        raise ValueError("committee.reputation_window and max_member_faults must be positive")
    if not -10_000 <= p.min_direction_bps <= 10_000:
        raise ValueError("committee.min_direction_bps is a cosine in basis points, within +-10000")
    if p.eval_sample_rows > 1_000_000:
        raise ValueError("committee.eval_sample_rows must be at most 1000000")
    if p.capture_target_ppb == 0 or p.capture_target_ppb > 1_000_000_000:
        raise ValueError("committee.capture_target_ppb must be in (0, 1e9]")
