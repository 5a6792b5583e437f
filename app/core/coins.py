"""Coins: integer amounts per denomination, parsed from strings like `1000usyn,5stake`."""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.core.errors import ErrInvalidCoins

__all__ = [
    "Coins",
    "DENOM_RE",
    "parse_coins",
    "parse_amount",
    "coins_from_proto",
    "validate_denom",
    "MAX_AMOUNT",
]

DENOM_RE = re.compile(r"\A[a-z][a-z0-9/]{2,127}\Z")  # \Z, not $: "usyn\n" is no denom
_COIN_RE = re.compile(r"\A([0-9]+)([a-z][a-z0-9/]{2,127})\Z", re.ASCII)
# A canonical amount: ASCII digits, no leading zero, at most 78 digits (2^256 has 78). str.isdigit
# would accept superscripts and other Unicode digits, and int() of a huge string raises ValueError.
_AMOUNT_RE = re.compile(r"(0|[1-9][0-9]{0,77})", re.ASCII)
# Amounts are bounded like the Cosmos SDK's sdk.Int (256 bits) so no state value grows without bound.
MAX_AMOUNT = (1 << 256) - 1


def validate_denom(denom: str) -> None:
    """Reject a denomination that is not 3-128 chars of [a-z0-9/] starting with a letter."""
    if not DENOM_RE.match(denom):
        raise ErrInvalidCoins.wrap(
            f"invalid denom {denom!r}: use 3-128 lowercase letters, digits or '/', starting "
            f"with a letter (e.g. usyn)"
        )


class Coins(tuple[tuple[str, int], ...]):
    """A sorted tuple of (denom, positive amount) with unique denoms."""

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, int]]) -> Coins:
        """Build validated coins; zero amounts are dropped, negatives and duplicates rejected."""
        seen: dict[str, int] = {}
        for denom, amount in pairs:
            validate_denom(denom)
            if not isinstance(amount, int) or amount < 0:
                raise ErrInvalidCoins.wrap(f"amount {amount!r}{denom} must be a positive integer")
            if amount > MAX_AMOUNT:
                raise ErrInvalidCoins.wrap(f"amount of {denom} exceeds 2^256-1")
            if denom in seen:
                raise ErrInvalidCoins.wrap(f"denom {denom} appears twice")
            seen[denom] = amount
        return cls(sorted((d, a) for d, a in seen.items() if a > 0))

    def amount_of(self, denom: str) -> int:
        """The amount of one denom (0 if absent)."""
        for d, a in self:
            if d == denom:
                return a
        return 0

    def __str__(self) -> str:
        return ",".join(f"{a}{d}" for d, a in self)


def parse_amount(text: str, what: str = "amount", positive: bool = True) -> int:
    """Parse a canonical base-10 integer amount string (as carried in protos)."""
    if not _AMOUNT_RE.fullmatch(text):
        raise ErrInvalidCoins.wrap(f"{what} {text[:40]!r} is not a canonical base-10 integer")
    value = int(text)
    if value > MAX_AMOUNT or (positive and value == 0):
        raise ErrInvalidCoins.wrap(f"{what} must be {'positive and ' if positive else ''}below 2^256")
    return value


def coins_from_proto(coins: Iterable[object], what: str = "amount") -> Coins:
    """Validated Coins from proto coins (each amount a canonical positive integer string)."""
    return Coins.of([(c.denom, parse_amount(c.amount, f"{what} of {c.denom}")) for c in coins])  # type: ignore[attr-defined]


def parse_coins(text: str) -> Coins:
    """Parse `1000usyn` or `1000usyn,5stake`; every amount must be a positive integer."""
    text = text.strip()
    if not text:
        raise ErrInvalidCoins.wrap("no amount given: write it like 1000usyn")
    pairs = []
    for part in text.split(","):
        m = _COIN_RE.match(part.strip())
        if not m:
            raise ErrInvalidCoins.wrap(
                f"cannot parse {part!r}: write an integer followed by a denom, like 1000usyn"
            )
        amount = int(m.group(1))
        if amount == 0:
            raise ErrInvalidCoins.wrap(f"{part!r}: amount must be positive")
        pairs.append((m.group(2), amount))
    return Coins.of(pairs)
