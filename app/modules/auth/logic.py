"""auth's pure rules: what a transaction counts against its block's budget (params.max_block_*)."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import SynodError
from app.core.tx import DecodedTx, decode_tx
from synod.auth.v1 import auth_pb2

__all__ = ["UNDECODED", "BlockLoad", "compute_tx_load", "decode_for_budget", "is_within_block_budget"]


@dataclass(frozen=True)
class BlockLoad:
    """Messages and gas limits summed over a block's transactions."""

    msgs: int = 0
    gas: int = 0

    def __add__(self, other: BlockLoad) -> BlockLoad:
        return BlockLoad(self.msgs + other.msgs, self.gas + other.gas)


# A tx that fails before its messages (too large, malformed, the beacon's or ensemble's own bytes)
# still costs its decode: it counts as one message, and it has no gas limit to count.
UNDECODED = BlockLoad(1, 0)


def decode_for_budget(raw: bytes, tx_hash: bytes) -> DecodedTx | None:
    """Decode a proposal's tx for its budget; None where it does not decode (it will fail at once)."""
    try:
        return decode_tx(raw, tx_hash)
    except SynodError:
        return None


def compute_tx_load(tx: DecodedTx | None) -> BlockLoad:
    """What one tx counts: its messages and its gas limit (UNDECODED where it does not decode)."""
    if tx is None:
        return UNDECODED
    return BlockLoad(len(tx.body.messages), tx.gas_limit)


def is_within_block_budget(params: auth_pb2.Params, load: BlockLoad) -> bool:
    """True while a block's summed load fits both per-block budgets."""
    return load.msgs <= params.max_block_msgs and load.gas <= params.max_block_gas
