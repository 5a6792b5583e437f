"""consensus parameters."""

from __future__ import annotations

from app.core.voteext import MAX_VOTE_EXTENSION_BYTES
from app.modules.consensus import logic
from synod.consensus.v1 import consensus_pb2

__all__ = ["MAX_MODEL_CHARS", "default_params", "validate_params"]

_BPS = 10_000
# Longest EnsembleModel.model description (MsgRegisterModel and genesis).
MAX_MODEL_CHARS = 256
# A class is one byte in the predictions format (logic.ENTRY_BYTES).
_MAX_CLASSES = 256


def default_params() -> consensus_pb2.Params:
    """Defaults: a 512-input query with full predictions (3 bytes each) stays small in a tx.

    The budgets (README "Budgets") keep one block's ensemble settlement and round closes to about a
    million work units each; one query at the largest sizes costs 256 x 521 = 133,376 tally units.
    """
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
        max_pending_fast_queries=64,
        max_extension_answers=16,
        max_fast_settle_work=1 << 18,
        max_query_participants=256,
        max_block_tally_work=1 << 20,
    )


def _validate_budgets(p: consensus_pb2.Params) -> None:
    """The per-block budgets are positive and one query at the largest sizes fits each."""
    for name in ("max_pending_fast_queries", "max_extension_answers", "max_query_participants"):
        if getattr(p, name) == 0:
            raise ValueError(f"consensus.{name} must be positive")
    need = logic.compute_answer_bytes(p.max_extension_answers, p.max_inputs)
    if need > MAX_VOTE_EXTENSION_BYTES:
        raise ValueError(
            f"consensus.max_extension_answers x max_inputs needs vote extensions of {need} bytes, over the "
            f"{MAX_VOTE_EXTENSION_BYTES}-byte limit; lower max_extension_answers or max_inputs"
        )
    if p.max_fast_settle_work < logic.compute_fast_cost(p.max_inputs, 1):
        raise ValueError("consensus.max_fast_settle_work must cover one answer to a max_inputs query")
    largest = logic.compute_tally_cost(p.max_query_participants, p.max_inputs, p.max_rounds)
    if p.max_block_tally_work < largest:
        raise ValueError(
            f"consensus.max_block_tally_work must be at least max_query_participants x (max_inputs + "
            f"max_rounds + 1) = {largest}, the cost of one query's round close"
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
    _validate_budgets(p)
