"""staking store keys: module prefix 0x03, then one-byte tables (big-endian integers)."""

from __future__ import annotations

from app.core.codec import u64be

__all__ = [
    "STORE_PREFIX",
    "PARAMS",
    "VALIDATOR",
    "DELEGATION",
    "UNBONDING_QUEUE",
    "UNBONDING_BY_VALIDATOR",
    "CONSENSUS_INDEX",
    "LAST_POWER",
    "NEXT_UNBONDING_ID",
    "TABLES",
    "validator_key",
    "delegation_key",
    "unbonding_queue_key",
    "unbonding_queue_time",
    "unbonding_by_validator_key",
    "consensus_index_key",
    "last_power_key",
]

STORE_PREFIX = b"\x03"

PARAMS = b"\x00"  # -> staking.v1.Params
VALIDATOR = b"\x01"  # + operator(20) -> staking.v1.Validator
DELEGATION = b"\x02"  # + delegator(20) + operator(20) -> shares (minimal big-endian)
UNBONDING_QUEUE = b"\x03"  # + completion_time(8) + id(8) -> staking.v1.UnbondingEntry
UNBONDING_BY_VALIDATOR = b"\x04"  # + operator(20) + id(8) -> completion_time(8): slashing index
CONSENSUS_INDEX = b"\x05"  # + consensus address(20) -> operator(20)
LAST_POWER = b"\x06"  # + operator(20) -> u64be power last sent to CometBFT
NEXT_UNBONDING_ID = b"\x07"  # -> u64be

TABLES = {
    "params": PARAMS,
    "validator": VALIDATOR,
    "delegation": DELEGATION,
    "unbonding_queue": UNBONDING_QUEUE,
    "unbonding_by_validator": UNBONDING_BY_VALIDATOR,
    "consensus_index": CONSENSUS_INDEX,
    "last_power": LAST_POWER,
    "next_unbonding_id": NEXT_UNBONDING_ID,
}


def validator_key(operator: bytes) -> bytes:
    """A validator by operator address."""
    return VALIDATOR + operator


def delegation_key(delegator: bytes, operator: bytes = b"") -> bytes:
    """One delegation, or (no operator) the prefix of a delegator's delegations."""
    return DELEGATION + delegator + operator


def unbonding_queue_time(completion_time: int) -> bytes:
    """The 8 bytes that order the queue: the completion time (u64), or 0 for a time before 1970.

    A chain whose genesis predates 1970 has negative block times; clamping keeps the u64 layout of
    every later key, and puts those entries first, in creation order (complete_unbonding scans them).
    """
    return u64be(max(completion_time, 0))


def unbonding_queue_key(completion_time: int, entry_id: int) -> bytes:
    """Unbonding entries sort by completion time, then creation order."""
    return UNBONDING_QUEUE + unbonding_queue_time(completion_time) + u64be(entry_id)


def unbonding_by_validator_key(operator: bytes, entry_id: int = -1) -> bytes:
    """Index entry, or (no id) the prefix of a validator's unbonding entries."""
    return UNBONDING_BY_VALIDATOR + operator + (u64be(entry_id) if entry_id >= 0 else b"")


def consensus_index_key(consensus_address: bytes) -> bytes:
    """Consensus address -> operator."""
    return CONSENSUS_INDEX + consensus_address


def last_power_key(operator: bytes) -> bytes:
    """Power last reported to CometBFT."""
    return LAST_POWER + operator
