"""bank errors (codespace "bank"); codes are never renumbered."""

from __future__ import annotations

from app.core.errors import register

__all__ = ["ErrNoCoins", "ErrTooManyDenoms", "ErrUnknownModule", "ErrSupply"]

ErrNoCoins = register("bank", 2, "no coins to send")
ErrTooManyDenoms = register("bank", 4, "too many denominations")
ErrUnknownModule = register("bank", 5, "unknown module account")
ErrSupply = register("bank", 6, "supply would go negative")
