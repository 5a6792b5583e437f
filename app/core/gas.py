"""Gas: a meter per transaction and the schedule that prices bytes and store operations.

Every store read and write in a transaction is charged through `GasMeter`, so the cost of a
transaction tracks the work validators do. Fee = gas limit x minimum gas price is charged first.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import ErrOutOfGas

__all__ = ["GasConfig", "GasMeter", "DEFAULT_GAS_CONFIG", "INFINITE_GAS"]

INFINITE_GAS = 1 << 63


@dataclass(frozen=True)
class GasConfig:
    """Per-operation store costs (the Cosmos SDK's KVGasConfig values)."""

    read_flat: int = 1000
    read_per_byte: int = 3
    write_flat: int = 2000
    write_per_byte: int = 30
    delete: int = 1000
    iter_next_flat: int = 30


DEFAULT_GAS_CONFIG = GasConfig()


class GasMeter:
    """Counts gas against a limit; raises ErrOutOfGas past it (the consumed total still counts)."""

    __slots__ = ("limit", "consumed")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.consumed = 0

    def consume(self, amount: int, descriptor: str) -> None:
        """Charge `amount`; past the limit, record the overrun and raise."""
        self.consumed += amount
        if self.consumed > self.limit:
            raise ErrOutOfGas.wrap(
                f"{descriptor}: used {self.consumed} of gas limit {self.limit}; raise --gas"
            )

    @property
    def remaining(self) -> int:
        """Gas left before the limit."""
        return max(0, self.limit - self.consumed)
