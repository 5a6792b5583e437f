"""What slashing needs from staking."""

from __future__ import annotations

from typing import Any, Protocol

from app.state.kv import KVStore

__all__ = ["SlashingStaking"]


class SlashingStaking(Protocol):
    """Find the operator behind a consensus address, slash and jail it."""

    def operator_by_consensus(self, store: KVStore, consensus_address: bytes) -> bytes | None: ...

    def require_validator(self, store: KVStore, operator: bytes) -> Any: ...

    def slash(
        self, store: KVStore, operator: bytes, infraction_height: int, power: int, fraction_bps: int
    ) -> Any: ...

    def jail(self, store: KVStore, operator: bytes, until: int, tombstone: bool = False) -> None: ...
