"""Compact sparse Merkle tree over SHA-256: the authenticated map whose root is the app hash.

A key's path is sha256(key) read MSB-first (0 = left, 1 = right). A subtree holding one leaf is
that leaf, placed at the highest level where it is alone, so the root depends only on the set of
(key, value) pairs. Nodes are content-addressed and never mutated: old roots stay readable.

Node encodings (the bytes stored are exactly the bytes hashed, hence the domain tags):
    leaf     = 0x00 || key_hash || value_hash
    internal = 0x01 || left_hash || right_hash
The empty subtree hashes to 32 zero bytes, which is no node's hash.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

__all__ = [
    "EMPTY",
    "HASH_SIZE",
    "MAX_DEPTH",
    "CorruptNodeError",
    "MissingNodeError",
    "NodeReader",
    "Proof",
    "ProofError",
    "Terminal",
    "TreeUpdate",
    "apply_updates",
    "apply_tracked_updates",
    "compute_root_from_proof",
    "get_value_hash",
    "hash_key",
    "hash_value",
    "prove",
    "verify_membership",
    "verify_non_membership",
]

HASH_SIZE = 32
MAX_DEPTH = 256
EMPTY = bytes(HASH_SIZE)

_LEAF_TAG = 0
_INTERNAL_TAG = 1
_NODE_SIZE = 1 + 2 * HASH_SIZE
_LEAF_PREFIX = b"\x00"
_INTERNAL_PREFIX = b"\x01"

# What a subtree root is, as returned by the batch pass; None means "untouched, not yet read".
_KIND_EMPTY = 0
_KIND_LEAF = 1
_KIND_INTERNAL = 2

_sha256 = hashlib.sha256

# A leaf to place: (path as an int, key_hash, value_hash); sorting by path sorts by key_hash.
_Entry = tuple[int, bytes, bytes]


class ProofError(Exception):
    """A proof is malformed, or does not prove the claimed (non-)membership against the root."""


class MissingNodeError(KeyError):
    """The node store lacks a node that the tree under the given root needs (pruned or corrupt)."""


class CorruptNodeError(ValueError):
    """The node store returned bytes that are not a valid encoded node."""


class NodeReader(Protocol):
    """Reads an encoded node by its hash from the node store."""

    def __call__(self, node_hash: bytes, /) -> bytes | None:
        """Return the encoded node stored under `node_hash`, or None if absent."""
        ...


class Terminal(IntEnum):
    """What sits where a proof's path ends."""

    EMPTY = 0  # an empty subtree: the key is absent
    LEAF = 1  # the key's own leaf: the key is present
    OTHER_LEAF = 2  # a different key's leaf alone in the subtree: the key is absent


def hash_key(key: bytes) -> bytes:
    """Return the path of `key` in the tree."""
    return _sha256(key).digest()


def hash_value(value: bytes) -> bytes:
    """Return the hash a leaf commits to for `value`."""
    return _sha256(value).digest()


def _leaf_hash(key_hash: bytes, value_hash: bytes) -> bytes:
    """Return the hash of the leaf committing to (key_hash, value_hash)."""
    return _sha256(_LEAF_PREFIX + key_hash + value_hash).digest()


def _internal_hash(left: bytes, right: bytes) -> bytes:
    """Return the hash of the internal node with the given children."""
    return _sha256(_INTERNAL_PREFIX + left + right).digest()


def _bit(path: int, depth: int) -> int:
    """Return bit `depth` (MSB-first) of a 256-bit path."""
    return (path >> (MAX_DEPTH - 1 - depth)) & 1


def _read(read_node: NodeReader, node_hash: bytes) -> bytes:
    """Read and sanity-check one encoded node."""
    node = read_node(node_hash)
    if node is None:
        raise MissingNodeError(f"node {node_hash.hex()} is missing from the node store")
    if len(node) != _NODE_SIZE or node[0] not in (_LEAF_TAG, _INTERNAL_TAG):
        raise CorruptNodeError(f"node {node_hash.hex()} is not a valid encoded node")
    return node


def _check_hash(name: str, value: bytes) -> None:
    """Reject anything that is not a 32-byte hash."""
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ValueError(f"{name} must be {HASH_SIZE} bytes")


class _Batch:
    """One recursive pass applying a sorted batch of updates to a tree."""

    def __init__(self, updates: Mapping[bytes, bytes | None], read_node: NodeReader) -> None:
        """Sort the batch once; every subtree then owns a contiguous slice of it."""
        self.key_hashes = sorted(updates)
        self.paths = [int.from_bytes(k, "big") for k in self.key_hashes]
        self.value_hashes = [updates[k] for k in self.key_hashes]
        self.read_node = read_node
        self.new_nodes: dict[bytes, bytes] = {}
        # Every stored node the pass rewrote: each either reappears in new_nodes or left the tree.
        self.replaced: set[bytes] = set()

    def put(self, node: bytes) -> bytes:
        """Record a new node and return its hash."""
        node_hash = _sha256(node).digest()
        self.new_nodes[node_hash] = node
        return node_hash

    def update(self, node_hash: bytes, depth: int, lo: int, hi: int) -> tuple[bytes, int]:
        """Apply updates [lo, hi), all under this subtree at `depth`; return (hash, kind)."""
        if node_hash == EMPTY:
            return self.build(self.live_entries(lo, hi), depth)
        node = _read(self.read_node, node_hash)
        self.replaced.add(node_hash)
        if node[0] == _LEAF_TAG:
            return self.build(self.live_entries(lo, hi, node), depth)
        if depth >= MAX_DEPTH:
            raise CorruptNodeError(f"internal node {node_hash.hex()} below depth {MAX_DEPTH}")
        left, right = node[1 : 1 + HASH_SIZE], node[1 + HASH_SIZE :]
        mid = _split(self.paths, depth, lo, hi)
        new_left = self.update(left, depth + 1, lo, mid) if lo < mid else (left, None)
        new_right = self.update(right, depth + 1, mid, hi) if mid < hi else (right, None)
        return self.join(new_left, new_right)

    def live_entries(self, lo: int, hi: int, leaf: bytes | None = None) -> list[_Entry]:
        """Return the sorted (path, key_hash, value_hash) left after updates [lo, hi) and `leaf`."""
        entries = [
            (self.paths[i], self.key_hashes[i], value_hash)
            for i in range(lo, hi)
            if (value_hash := self.value_hashes[i]) is not None
        ]
        if leaf is not None:
            key_hash = leaf[1 : 1 + HASH_SIZE]
            path = int.from_bytes(key_hash, "big")
            pos = bisect_left(self.paths, path, lo, hi)
            # An update (set or delete) of the leaf's own key replaces it.
            if pos == hi or self.paths[pos] != path:
                entries.append((path, key_hash, leaf[1 + HASH_SIZE :]))
                entries.sort()
        return entries

    def build(self, entries: list[_Entry], depth: int) -> tuple[bytes, int]:
        """Build the canonical subtree at `depth` holding exactly `entries` (sorted, distinct)."""
        if not entries:
            return EMPTY, _KIND_EMPTY
        return self.build_range(entries, 0, len(entries), depth)

    def build_range(self, entries: list[_Entry], lo: int, hi: int, depth: int) -> tuple[bytes, int]:
        """Build the canonical subtree at `depth` holding the non-empty range entries[lo:hi]."""
        if hi - lo == 1:
            _, key_hash, value_hash = entries[lo]
            return self.put(_LEAF_PREFIX + key_hash + value_hash), _KIND_LEAF
        first = entries[lo][0]
        # Sorted entries share the prefix that the first and last share: branch where they part.
        split_depth = MAX_DEPTH - (first ^ entries[hi - 1][0]).bit_length()
        if split_depth < depth:
            raise CorruptNodeError(f"a leaf lies outside its subtree at depth {depth}")
        mid = bisect_left(entries, (_boundary(first, split_depth),), lo, hi)
        left = self.build_range(entries, lo, mid, split_depth + 1)[0]
        right = self.build_range(entries, mid, hi, split_depth + 1)[0]
        node_hash = self.put(_INTERNAL_PREFIX + left + right)
        # Above the split every entry goes the same way, so each level has one empty child.
        for d in range(split_depth - 1, depth - 1, -1):
            pair = EMPTY + node_hash if _bit(first, d) else node_hash + EMPTY
            node_hash = self.put(_INTERNAL_PREFIX + pair)
        return node_hash, _KIND_INTERNAL

    def join(self, left: tuple[bytes, int | None], right: tuple[bytes, int | None]) -> tuple[bytes, int]:
        """Combine two updated children, hoisting a leaf left alone by its sibling."""
        left_hash, right_hash = left[0], right[0]
        if left_hash == EMPTY and right_hash == EMPTY:
            return EMPTY, _KIND_EMPTY
        if left_hash == EMPTY and self.kind(right) == _KIND_LEAF:
            return right_hash, _KIND_LEAF
        if right_hash == EMPTY and self.kind(left) == _KIND_LEAF:
            return left_hash, _KIND_LEAF
        return self.put(_INTERNAL_PREFIX + left_hash + right_hash), _KIND_INTERNAL

    def kind(self, child: tuple[bytes, int | None]) -> int:
        """Return a child's kind, reading the node only if the pass did not touch it."""
        node_hash, kind = child
        if kind is not None:
            return kind
        if node_hash == EMPTY:
            return _KIND_EMPTY
        return _KIND_LEAF if _read(self.read_node, node_hash)[0] == _LEAF_TAG else _KIND_INTERNAL


def _boundary(path: int, depth: int) -> int:
    """Return the smallest path sharing `path`'s first `depth` bits whose bit `depth` is 1."""
    shift = MAX_DEPTH - 1 - depth
    return ((path >> shift) | 1) << shift


def _split(paths: list[int], depth: int, lo: int, hi: int) -> int:
    """Return the first index in sorted paths[lo:hi] (sharing a depth-bit prefix) going right."""
    return bisect_left(paths, _boundary(paths[lo], depth), lo, hi)


def apply_updates(
    root: bytes, updates: Mapping[bytes, bytes | None], read_node: NodeReader
) -> tuple[bytes, dict[bytes, bytes]]:
    """Apply key_hash -> value_hash (or None: delete) updates; return (new_root, new_nodes)."""
    update = apply_tracked_updates(root, updates, read_node)
    return update.root, update.nodes


@dataclass(frozen=True)
class TreeUpdate:
    """What one batch did to the tree: the new root and nodes, and which stored nodes it touched.

    `orphans`: nodes of the old tree that are not in the new one (the old paths the batch replaced).
    `fresh`: new nodes that were not in the old tree; a stored copy of one is a node an earlier
    version orphaned and this one revives (content addressing: a value set back to an old value
    recreates its old leaf and path). Neither set is part of any hash.
    """

    root: bytes
    nodes: dict[bytes, bytes]
    orphans: frozenset[bytes]
    fresh: frozenset[bytes]


def apply_tracked_updates(
    root: bytes, updates: Mapping[bytes, bytes | None], read_node: NodeReader
) -> TreeUpdate:
    """As apply_updates, also reporting the nodes the batch orphaned and the fresh ones it created.

    Sound because a tree holds each node hash at most once (a subtree's hash fixes its set of
    leaves, and a key has one leaf): a node the pass rewrote is in the new tree iff it was rebuilt,
    and an untouched subtree keeps every node it had.
    """
    _check_hash("root", root)
    for key_hash, value_hash in updates.items():
        _check_hash("key hash", key_hash)
        if value_hash is not None:
            _check_hash("value hash", value_hash)
    if not updates:
        return TreeUpdate(root, {}, frozenset(), frozenset())
    batch = _Batch(updates, read_node)
    new_root, _ = batch.update(root, 0, 0, len(batch.key_hashes))
    created = batch.new_nodes.keys()
    return TreeUpdate(
        new_root,
        batch.new_nodes,
        frozenset(batch.replaced - created),
        frozenset(created - batch.replaced),
    )


def _walk(root: bytes, key_hash: bytes, read_node: NodeReader) -> tuple[list[bytes], bytes | None]:
    """Follow key_hash's path; return (siblings top-down, terminal leaf node or None if empty)."""
    _check_hash("root", root)
    _check_hash("key hash", key_hash)
    path = int.from_bytes(key_hash, "big")
    siblings: list[bytes] = []
    node_hash = root
    while node_hash != EMPTY:
        node = _read(read_node, node_hash)
        if node[0] == _LEAF_TAG:
            return siblings, node
        depth = len(siblings)
        if depth >= MAX_DEPTH:
            raise CorruptNodeError(f"internal node {node_hash.hex()} below depth {MAX_DEPTH}")
        left, right = node[1 : 1 + HASH_SIZE], node[1 + HASH_SIZE :]
        node_hash, sibling = (right, left) if _bit(path, depth) else (left, right)
        siblings.append(sibling)
    return siblings, None


def get_value_hash(root: bytes, key_hash: bytes, read_node: NodeReader) -> bytes | None:
    """Return the value hash stored under key_hash in the tree at `root`, or None if absent."""
    _, leaf = _walk(root, key_hash, read_node)
    if leaf is None or leaf[1 : 1 + HASH_SIZE] != key_hash:
        return None
    return leaf[1 + HASH_SIZE :]


@dataclass(frozen=True)
class Proof:
    """A path from a root to where a key's path ends: siblings top-down, EMPTY ones elided.

    Bit i (MSB-first) of `bitmap` is set iff the sibling at depth i is not EMPTY; `siblings`
    holds those non-empty siblings in order. `other_leaf` is (key_hash, value_hash) of the leaf
    found instead of the key's own, set iff terminal is OTHER_LEAF.
    """

    depth: int
    bitmap: bytes
    siblings: tuple[bytes, ...]
    terminal: Terminal
    other_leaf: tuple[bytes, bytes] | None = None

    def __post_init__(self) -> None:
        """Reject a structurally invalid proof, so that every Proof has one canonical encoding."""
        if not 0 <= self.depth <= MAX_DEPTH:
            raise ProofError(f"proof depth {self.depth} outside 0..{MAX_DEPTH}")
        if len(self.bitmap) != (self.depth + 7) // 8:
            raise ProofError(f"proof bitmap has {len(self.bitmap)} bytes for depth {self.depth}")
        bits = int.from_bytes(self.bitmap, "big")
        if bits & ((1 << (-self.depth % 8)) - 1):
            raise ProofError("proof bitmap has bits set beyond its depth")
        if bits.bit_count() != len(self.siblings):
            raise ProofError("proof bitmap does not match the number of siblings")
        if any(len(s) != HASH_SIZE or s == EMPTY for s in self.siblings):
            raise ProofError("proof sibling is not a non-empty 32-byte hash")
        if (self.terminal == Terminal.OTHER_LEAF) != (self.other_leaf is not None):
            raise ProofError("proof carries another leaf iff its terminal is OTHER_LEAF")
        if self.other_leaf is not None and any(len(h) != HASH_SIZE for h in self.other_leaf):
            raise ProofError("proof's other leaf is not two 32-byte hashes")

    @classmethod
    def from_siblings(
        cls,
        siblings: list[bytes],
        terminal: Terminal,
        other_leaf: tuple[bytes, bytes] | None = None,
    ) -> Proof:
        """Build a proof from the full top-down sibling list, EMPTY ones included."""
        depth = len(siblings)
        bits = 0
        for sibling in siblings:
            bits = (bits << 1) | (sibling != EMPTY)
        bitmap = (bits << (-depth % 8)).to_bytes((depth + 7) // 8, "big")
        present = tuple(s for s in siblings if s != EMPTY)
        return cls(depth, bitmap, present, terminal, other_leaf)

    def all_siblings(self) -> list[bytes]:
        """Return the full top-down sibling list, EMPTY ones included."""
        bits = int.from_bytes(self.bitmap, "big") >> (-self.depth % 8)
        present = iter(self.siblings)
        return [next(present) if (bits >> (self.depth - 1 - i)) & 1 else EMPTY for i in range(self.depth)]

    def encode(self) -> bytes:
        """Return terminal (1) || depth (2, big-endian) || bitmap || siblings || other leaf."""
        other = b"".join(self.other_leaf) if self.other_leaf is not None else b""
        header = bytes([self.terminal]) + self.depth.to_bytes(2, "big")
        return header + self.bitmap + b"".join(self.siblings) + other

    @classmethod
    def decode(cls, data: bytes) -> Proof:
        """Parse an encoded proof; raise ProofError unless `data` is exactly one valid proof."""
        if len(data) < 3:
            raise ProofError("proof is shorter than its 3-byte header")
        try:
            terminal = Terminal(data[0])
        except ValueError:
            raise ProofError(f"proof terminal {data[0]} is unknown") from None
        depth = int.from_bytes(data[1:3], "big")
        if depth > MAX_DEPTH:
            raise ProofError(f"proof depth {depth} exceeds {MAX_DEPTH}")
        end = 3 + (depth + 7) // 8
        bitmap = data[3:end]
        count = int.from_bytes(bitmap, "big").bit_count()
        other_size = 2 * HASH_SIZE if terminal == Terminal.OTHER_LEAF else 0
        expected = end + count * HASH_SIZE + other_size
        if len(data) != expected:
            raise ProofError(f"proof is {len(data)} bytes, its header implies {expected}")
        siblings = tuple(data[i : i + HASH_SIZE] for i in range(end, end + count * HASH_SIZE, HASH_SIZE))
        other = None
        if other_size:
            other = (data[-2 * HASH_SIZE : -HASH_SIZE], data[-HASH_SIZE:])
        return cls(depth, bitmap, siblings, terminal, other)


def prove(root: bytes, key_hash: bytes, read_node: NodeReader) -> Proof:
    """Return a membership or non-membership proof for key_hash in the tree at `root`."""
    siblings, leaf = _walk(root, key_hash, read_node)
    if leaf is None:
        return Proof.from_siblings(siblings, Terminal.EMPTY)
    leaf_key_hash, leaf_value_hash = leaf[1 : 1 + HASH_SIZE], leaf[1 + HASH_SIZE :]
    if leaf_key_hash == key_hash:
        return Proof.from_siblings(siblings, Terminal.LEAF)
    return Proof.from_siblings(siblings, Terminal.OTHER_LEAF, (leaf_key_hash, leaf_value_hash))


def _terminal_hash(key_hash: bytes, value_hash: bytes | None, proof: Proof) -> bytes:
    """Return the hash at the end of the path, checking the terminal fits the claim."""
    if value_hash is not None:
        if proof.terminal != Terminal.LEAF:
            raise ProofError("membership claimed but the proof ends at an empty subtree or another leaf")
        return _leaf_hash(key_hash, value_hash)
    if proof.terminal == Terminal.LEAF:
        raise ProofError("absence claimed but the proof ends at the key's own leaf")
    if proof.terminal == Terminal.EMPTY:
        return EMPTY
    assert proof.other_leaf is not None  # guaranteed by Proof.__post_init__
    other_key_hash, other_value_hash = proof.other_leaf
    if other_key_hash == key_hash:
        raise ProofError("absence proof's other leaf is the key itself")
    shared = (
        MAX_DEPTH - (int.from_bytes(other_key_hash, "big") ^ int.from_bytes(key_hash, "big")).bit_length()
    )
    if shared < proof.depth:
        raise ProofError("absence proof's other leaf does not lie on the key's path")
    return _leaf_hash(other_key_hash, other_value_hash)


def compute_root_from_proof(key_hash: bytes, value_hash: bytes | None, proof: Proof) -> bytes:
    """Return the root that `proof` implies for key_hash holding value_hash (None: absent)."""
    _check_hash("key hash", key_hash)
    if value_hash is not None:
        _check_hash("value hash", value_hash)
    node_hash = _terminal_hash(key_hash, value_hash, proof)
    path = int.from_bytes(key_hash, "big")
    for depth, sibling in zip(range(proof.depth - 1, -1, -1), reversed(proof.all_siblings()), strict=True):
        if _bit(path, depth):
            node_hash = _internal_hash(sibling, node_hash)
        else:
            node_hash = _internal_hash(node_hash, sibling)
    return node_hash


def verify_membership(root: bytes, key: bytes, value: bytes, proof: Proof) -> None:
    """Raise ProofError unless `proof` shows `key` holds `value` in the tree at `root`."""
    computed = compute_root_from_proof(hash_key(key), hash_value(value), proof)
    if computed != root:
        raise ProofError(f"membership proof gives root {computed.hex()}, expected {root.hex()}")


def verify_non_membership(root: bytes, key: bytes, proof: Proof) -> None:
    """Raise ProofError unless `proof` shows `key` is absent from the tree at `root`."""
    computed = compute_root_from_proof(hash_key(key), None, proof)
    if computed != root:
        raise ProofError(f"non-membership proof gives root {computed.hex()}, expected {root.hex()}")
