"""consensus parameters."""

from __future__ import annotations

from synod.consensus.v1 import consensus_pb2

__all__ = ["MAX_MODEL_CHARS", "default_params", "validate_params"]

_BPS = 10_000
# Longest EnsembleModel.model description (MsgRegisterModel and genesis).
MAX_MODEL_CHARS = 256
# A class is one byte in the predictions format (logic.ENTRY_BYTES).
_MAX_CLASSES = 256


def default_params() -> consensus_pb2.Params:
    """Defaults: a 512-input query with full predictions (3 bytes each) stays small in a tx."""
    return consensus_pb2.Params(
        max_inputs=512,
        max_labels=256,
        max_rounds=8,
        max_inline_bytes=65_536,
        missed_reveal_slash_bps=1_000,
        reputation_window=8,
        initial_reputation_bps=5_000,
        fast_deadline_blocks=20,
        max_peer_sample=16,
    )


def validate_params(p: consensus_pb2.Params) -> None:
    """Reject unusable parameters."""
    for name in ("max_inputs", "reputation_window", "fast_deadline_blocks"):
        if getattr(p, name) == 0:
            raise ValueError(f"consensus.{name} must be positive")
    if not 2 <= p.max_labels <= _MAX_CLASSES:
        raise ValueError(f"consensus.max_labels must be between 2 and {_MAX_CLASSES} (one byte per class)")
    if p.missed_reveal_slash_bps > _BPS:
        raise ValueError(f"consensus.missed_reveal_slash_bps is in basis points and must be at most {_BPS}")
    # A newcomer with reputation 0 would carry no weight at all, however much it stakes.
    if not 1 <= p.initial_reputation_bps <= _BPS:
        raise ValueError(f"consensus.initial_reputation_bps must be between 1 and {_BPS}")
