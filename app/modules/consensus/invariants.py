"""consensus invariants, run after every block in tests."""

from __future__ import annotations

from collections.abc import Callable

from app.modules.consensus.keeper import CONSENSUS_ESCROW, ConsensusKeeper
from app.state.kv import KVStore
from synod.consensus.v1 import consensus_pb2

__all__ = ["check_escrow"]


def _add(owed: dict[str, int], denom: str, amount: int) -> None:
    """Add an amount owed in a denom."""
    owed[denom] = owed.get(denom, 0) + amount


def check_escrow(
    store: KVStore, k: ConsensusKeeper, balance_of: Callable[[KVStore, str], dict[str, int]]
) -> None:
    """The consensus escrow holds exactly what queries still owe: the reward of every OPEN query and
    of every SETTLED open query (a fast query pays at settlement), and the unslashed stakes of the
    participants of OPEN and SETTLED queries (returned when a query closes)."""
    owed: dict[str, int] = {}
    for query in k.iterate_queries(store):
        status = query.status
        if status == consensus_pb2.QUERY_STATUS_OPEN or (
            status == consensus_pb2.QUERY_STATUS_SETTLED and not query.fast
        ):
            _add(owed, query.reward.denom, int(query.reward.amount))
        if status in (consensus_pb2.QUERY_STATUS_OPEN, consensus_pb2.QUERY_STATUS_SETTLED) and not query.fast:
            for _, p in k.iterate_participants(store, query.id):
                _add(owed, p.stake.denom, int(p.stake.amount) - int(p.slashed or 0))
    held = balance_of(store, CONSENSUS_ESCROW)
    expected = {denom: amount for denom, amount in owed.items() if amount}
    if held != expected:
        raise AssertionError(f"consensus escrow holds {held}, queries are owed {expected}")
