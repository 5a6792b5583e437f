"""slashing store keys: module prefix 0x04, then one-byte tables."""

from __future__ import annotations

from app.core.codec import u64be

__all__ = [
    "STORE_PREFIX",
    "PARAMS",
    "SIGNING_INFO",
    "MISSED",
    "EVIDENCE",
    "TABLES",
    "signing_info_key",
    "missed_key",
    "evidence_key",
]

STORE_PREFIX = b"\x04"

PARAMS = b"\x00"  # -> slashing.v1.Params
SIGNING_INFO = b"\x01"  # + consensus address(20) -> slashing.v1.SigningInfo
MISSED = b"\x02"  # + consensus address(20) + window index(8) -> b"\x01" (only missed blocks stored)
EVIDENCE = b"\x03"  # + height(8) + consensus address(20) -> slashing.v1.Evidence

TABLES = {"params": PARAMS, "signing_info": SIGNING_INFO, "missed": MISSED, "evidence": EVIDENCE}


def signing_info_key(consensus_address: bytes) -> bytes:
    """Liveness record of a validator."""
    return SIGNING_INFO + consensus_address


def missed_key(consensus_address: bytes, index: int = -1) -> bytes:
    """One missed-block bit, or (no index) the prefix of a validator's bitmap."""
    return MISSED + consensus_address + (u64be(index) if index >= 0 else b"")


def evidence_key(height: int, consensus_address: bytes) -> bytes:
    """An evidence record by infraction height."""
    return EVIDENCE + u64be(height) + consensus_address
