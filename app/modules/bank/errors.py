"""bank errors (codespace "bank"); codes are never renumbered."""

from __future__ import annotations

from app.core.errors import register

__all__ = ["ErrBlockedRecipient", "ErrNoCoins", "ErrTooManyDenoms", "ErrUnknownModule", "ErrSupply"]

ErrNoCoins = register("bank", 2, "no coins to send")
ErrTooManyDenoms = register("bank", 4, "too many denominations")
ErrUnknownModule = register("bank", 5, "unknown module account")
ErrSupply = register("bank", 6, "supply would go negative")
ErrBlockedRecipient = register("bank", 7, "recipient is a module escrow account")
