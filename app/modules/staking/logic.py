"""Pure staking rules: share accounting, voting power, validator-set selection, slash amounts.

Shares let a slash hit every delegator of a validator at once: a delegation holds shares, and its
token value is shares x tokens / total shares. All divisions floor (the validator keeps the dust),
except shares removed on undelegation, which round up so a delegator can never take out more than
its shares are worth.
"""

from __future__ import annotations

__all__ = [
    "BPS",
    "compute_power",
    "compute_shares_for_tokens",
    "compute_tokens_for_shares",
    "compute_shares_to_remove",
    "compute_slash_amount",
    "select_validator_set",
    "compute_validator_updates",
]

BPS = 10_000


def compute_power(tokens: int, power_reduction: int) -> int:
    """CometBFT voting power of a token amount."""
    return tokens // power_reduction


def compute_shares_for_tokens(amount: int, tokens: int, shares: int) -> int:
    """Shares minted for `amount` new tokens; the first delegation gets shares 1:1."""
    if shares == 0:
        return amount
    if tokens == 0:
        raise ZeroDivisionError("validator has shares but no tokens")
    return amount * shares // tokens


def compute_tokens_for_shares(amount_shares: int, tokens: int, shares: int) -> int:
    """Token value of some shares (floor)."""
    return amount_shares * tokens // shares if shares else 0


def compute_shares_to_remove(amount: int, tokens: int, shares: int) -> int:
    """Shares to burn to withdraw `amount` tokens (ceiling)."""
    return -(-amount * shares // tokens)


def compute_slash_amount(power: int, power_reduction: int, fraction_bps: int) -> int:
    """Tokens to slash: a fraction of the stake the validator had at the infraction."""
    return power * power_reduction * fraction_bps // BPS


def select_validator_set(candidates: list[tuple[bytes, int]], max_validators: int) -> dict[bytes, int]:
    """The top `max_validators` by power (ties by operator address), positive power only."""
    ranked = sorted((c for c in candidates if c[1] > 0), key=lambda c: (-c[1], c[0]))
    return dict(ranked[:max_validators])


def compute_validator_updates(last: dict[bytes, int], new: dict[bytes, int]) -> list[tuple[bytes, int]]:
    """Changes to send to CometBFT, in operator order: new or changed powers, 0 for removals."""
    changed = [(op, power) for op, power in new.items() if last.get(op) != power]
    removed = [(op, 0) for op in last if op not in new]
    return sorted(changed + removed)
