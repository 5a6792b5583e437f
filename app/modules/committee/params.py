"""committee parameters."""

from __future__ import annotations

from synod.committee.v1 import committee_pb2

__all__ = [
    "MAX_DKG_MEMBERS",
    "MAX_NEAR_COPY_WORK",
    "NEAR_COPY_THRESHOLD_BPS",
    "default_params",
    "validate_params",
]

# bench/nearcopy: honest non-IID updates stay below this cosine with a margin (README "Near copies").
NEAR_COPY_THRESHOLD_BPS = 9_950
MAX_NEAR_COPY_WORK = 1 << 25
# The largest max_dkg_members may be: it bounds a dealing's size (a sealed share per member, 96 bytes).
MAX_DKG_MEMBERS = 1_024


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
        attest_reveal_blocks=4,
        near_copy_threshold_bps=NEAR_COPY_THRESHOLD_BPS,
        max_near_copy_work=MAX_NEAR_COPY_WORK,
        dkg_phase_blocks=4,
        max_dkg_members=128,
        epoch_blocks=2,
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
        "near_copy_threshold_bps",
    ):
        if getattr(p, name) > 10_000:
            raise ValueError(f"committee.{name} is in basis points and must be at most 10000")
    if not 1 <= p.max_committee_size <= 1_000:
        raise ValueError("committee.max_committee_size must be between 1 and 1000")
    if p.reputation_window == 0 or p.max_member_faults == 0:
        raise ValueError("committee.reputation_window and max_member_faults must be positive")
    if not 1 <= p.attest_reveal_blocks <= 10_000:
        raise ValueError("committee.attest_reveal_blocks must be between 1 and 10000")
    if p.max_near_copy_work == 0:
        raise ValueError("committee.max_near_copy_work must be positive (coordinate products per round)")
    if not 1 <= p.dkg_phase_blocks <= 10_000 or not 1 <= p.epoch_blocks <= 10_000:
        raise ValueError("committee.dkg_phase_blocks and epoch_blocks must be between 1 and 10000")
    if not 1 <= p.max_dkg_members <= MAX_DKG_MEMBERS:
        raise ValueError(f"committee.max_dkg_members must be between 1 and {MAX_DKG_MEMBERS}")
    if not -10_000 <= p.min_direction_bps <= 10_000:
        raise ValueError("committee.min_direction_bps is a cosine in basis points, within +-10000")
    if p.eval_sample_rows > 1_000_000:
        raise ValueError("committee.eval_sample_rows must be at most 1000000")
    if p.capture_target_ppb == 0 or p.capture_target_ppb > 1_000_000_000:
        raise ValueError("committee.capture_target_ppb must be in (0, 1e9]")
