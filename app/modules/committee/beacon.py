"""The randomness beacon: validators' unique BLS signatures on each height, combined into a seed."""

from __future__ import annotations

from app.core.codec import u64be

__all__ = ["compute_possession_message", "compute_share_message"]

SHARE_DOMAIN = b"synod/beacon/v1"
POSSESSION_DOMAIN = b"synod/committee/possession/v1"


def compute_share_message(chain_id: str, height: int) -> bytes:
    """What a member signs for the beacon at height (its vote extension)."""
    return SHARE_DOMAIN + chain_id.encode() + b"\x00" + u64be(height)


def compute_possession_message(chain_id: str, operator: str) -> bytes:
    """What a validator signs with its BLS key to prove it holds it (MsgOptIn)."""
    return POSSESSION_DOMAIN + chain_id.encode() + b"\x00" + operator.encode()
