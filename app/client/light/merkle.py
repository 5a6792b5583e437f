"""CometBFT's RFC 6962 Merkle root (crypto/merkle/tree.go), used for header and validator hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["empty_hash", "leaf_hash", "inner_hash", "hash_from_byte_slices"]

# RFC 6962 domain separation: a leaf can never be mistaken for an inner node.
_LEAF_PREFIX = b"\x00"
_INNER_PREFIX = b"\x01"


def empty_hash() -> bytes:
    """The root of zero items: SHA-256 of nothing."""
    return hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf)."""
    return hashlib.sha256(_LEAF_PREFIX + leaf).digest()


def inner_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_INNER_PREFIX + left + right).digest()


def _split_point(length: int) -> int:
    """The largest power of two strictly less than length (length >= 2)."""
    return 1 << ((length - 1).bit_length() - 1)


def hash_from_byte_slices(items: Sequence[bytes]) -> bytes:
    """The Merkle root of items: left subtree of the largest power of two < n, the rest right."""
    if not items:
        return empty_hash()
    if len(items) == 1:
        return leaf_hash(items[0])
    k = _split_point(len(items))
    return inner_hash(hash_from_byte_slices(items[:k]), hash_from_byte_slices(items[k:]))
