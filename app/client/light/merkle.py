"""CometBFT's RFC 6962 Merkle root (crypto/merkle/tree.go), used for header and validator hashes,
and its inclusion proofs (crypto/merkle/proof.go: the aunts, bottom-up, from a leaf to the root)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "compute_aunts",
    "compute_root_from_aunts",
    "empty_hash",
    "hash_from_byte_slices",
    "inner_hash",
    "leaf_hash",
]

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


def compute_aunts(items: Sequence[bytes], index: int) -> list[bytes]:
    """The sibling hashes on the path from items[index] to the root, the leaf's own sibling first."""
    if not 0 <= index < len(items):
        raise IndexError(f"leaf {index} of {len(items)}")
    if len(items) == 1:
        return []
    k = _split_point(len(items))
    if index < k:
        return [*compute_aunts(items[:k], index), hash_from_byte_slices(items[k:])]
    return [*compute_aunts(items[k:], index - k), hash_from_byte_slices(items[:k])]


def compute_root_from_aunts(index: int, total: int, leaf: bytes, aunts: Sequence[bytes]) -> bytes | None:
    """The root that leaf at index of total items proves with aunts; None if they cannot fit."""
    if not 0 <= index < total:
        return None
    if total == 1:
        return leaf_hash(leaf) if not aunts else None
    if not aunts:
        return None
    k = _split_point(total)
    if index < k:
        left = compute_root_from_aunts(index, k, leaf, aunts[:-1])
        return None if left is None else inner_hash(left, aunts[-1])
    right = compute_root_from_aunts(index - k, total - k, leaf, aunts[:-1])
    return None if right is None else inner_hash(aunts[-1], right)
