"""The context a message handler runs in: the tx's metered store, the block, events and gas."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.events import EventManager
from app.core.gas import GasMeter
from app.core.store import KVStore

__all__ = ["BlockInfo", "Context"]


@dataclass(frozen=True)
class BlockInfo:
    """What the block tells the state machine: never the wall clock."""

    chain_id: str
    height: int
    # Block time as integers: Python's datetime would drop CometBFT's nanoseconds.
    time_seconds: int = 0
    time_nanos: int = 0


@dataclass
class Context:
    """Everything a handler may touch; `store` charges `gas` for every operation."""

    store: KVStore
    block: BlockInfo
    gas: GasMeter
    events: EventManager = field(default_factory=EventManager)
    is_check: bool = False
