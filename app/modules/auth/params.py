"""auth parameters: transaction size, signature cost and the fee floor."""

from __future__ import annotations

from app.core.coins import validate_denom
from synod.auth.v1 import auth_pb2

__all__ = ["default_params", "validate_params", "FEE_DENOM"]

FEE_DENOM = "usyn"


def default_params() -> auth_pb2.Params:
    """Defaults: 1 MiB transactions (updates carry model deltas), Cosmos-like gas costs."""
    return auth_pb2.Params(
        max_memo_chars=256,
        max_tx_bytes=1 << 20,
        tx_size_cost_per_byte=10,
        sig_verify_cost_ed25519=590,
        min_gas_price=1,
        fee_denom=FEE_DENOM,
        # The largest legitimate tx is a post whose 4M-parameter weights the chain derives from a
        # seed: 16 MiB stored at 30 gas a byte, about 503M gas. 2^30 bounds a tx near 33 MB written.
        max_gas_per_tx=1 << 30,
        # A block of 2,000 one-message sends takes ~0.5 s of FinalizeBlock on one core (bench/worstcase):
        # the localnet's block interval. Ceiling 2,000 / 0.54 s = 3,700 tx/s, far above what we sustain.
        max_block_msgs=2_000,
        # One largest tx: a 4M-parameter seeded post is ~0.4 s of FinalizeBlock + Commit. Gas that
        # high is storage (30 gas a byte), far cheaper per gas to execute than messages, which
        # max_block_msgs bounds (bench/worstcase).
        max_block_gas=1 << 30,
    )


def validate_params(p: auth_pb2.Params) -> None:
    """Reject parameters that would make every transaction invalid."""
    validate_denom(p.fee_denom)
    if p.max_tx_bytes < 256:
        raise ValueError("auth.max_tx_bytes must be at least 256")
    if p.max_gas_per_tx == 0:
        raise ValueError("auth.max_gas_per_tx must be positive")
    if p.max_block_msgs == 0:
        raise ValueError("auth.max_block_msgs must be positive")
    if p.max_block_gas < p.max_gas_per_tx:
        raise ValueError(
            "auth.max_block_gas must be at least auth.max_gas_per_tx, or the largest tx fits no block"
        )
    if p.tx_size_cost_per_byte == 0 or p.sig_verify_cost_ed25519 == 0:
        raise ValueError("auth gas costs must be positive, or spam would be free")
