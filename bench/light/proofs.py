"""SMT proof verification: membership and non-membership proofs in a tree of 100k keys.

What a light client does with a `/store` answer: decode the proof bytes and recompute the root.
Both are timed, separately: verification alone (Proof objects) and decode + verify (wire bytes).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.state.smt import (
    EMPTY,
    Proof,
    apply_updates,
    hash_key,
    hash_value,
    prove,
    verify_membership,
    verify_non_membership,
)

__all__ = ["ProofSet", "build", "ProofTiming", "time_verification"]

_BATCH = 1_000


def _key(i: int) -> bytes:
    """Key i: sha256 of the counter, so every run builds the same tree."""
    return hashlib.sha256(i.to_bytes(8, "big")).digest()


def _value(i: int) -> bytes:
    return b"v%d" % i


@dataclass(frozen=True)
class ProofSet:
    """A tree root, proofs of present keys (with their values) and of absent keys."""

    root: bytes
    members: list[tuple[bytes, bytes, Proof]]
    absent: list[tuple[bytes, Proof]]


def build(keys: int, proofs: int, on_tick: Callable[[int], None] | None = None) -> ProofSet:
    """Insert keys 0..keys-1 in batches; prove `proofs` of them, and `proofs` keys beyond them."""
    store: dict[bytes, bytes] = {}
    root = EMPTY
    for pos in range(0, keys, _BATCH):
        batch = {hash_key(_key(i)): hash_value(_value(i)) for i in range(pos, min(pos + _BATCH, keys))}
        root, nodes = apply_updates(root, batch, store.get)
        store.update(nodes)
        if on_tick:
            on_tick(min(pos + _BATCH, keys))
    step = max(keys // proofs, 1)
    members = [(_key(i), _value(i), prove(root, hash_key(_key(i)), store.get)) for i in range(0, keys, step)]
    absent = [(_key(i), prove(root, hash_key(_key(i)), store.get)) for i in range(keys, keys + proofs)]
    return ProofSet(root, members[:proofs], absent)


@dataclass(frozen=True)
class ProofTiming:
    """Seconds to verify every proof of one kind, from objects and from bytes; mean encoded size."""

    count: int
    verify_s: float
    decode_verify_s: float
    mean_bytes: float


def time_verification(proofs: ProofSet) -> dict[str, ProofTiming]:
    """Time membership and non-membership verification; every proof must verify."""
    root = proofs.root
    members = [(k, v, p, p.encode()) for k, v, p in proofs.members]
    absent = [(k, p, p.encode()) for k, p in proofs.absent]

    start = time.perf_counter()
    for key, value, proof, _ in members:
        verify_membership(root, key, value, proof)
    member_s = time.perf_counter() - start
    start = time.perf_counter()
    for key, value, _, raw in members:
        verify_membership(root, key, value, Proof.decode(raw))
    member_raw_s = time.perf_counter() - start

    start = time.perf_counter()
    for key, proof, _ in absent:
        verify_non_membership(root, key, proof)
    absent_s = time.perf_counter() - start
    start = time.perf_counter()
    for key, _, raw in absent:
        verify_non_membership(root, key, Proof.decode(raw))
    absent_raw_s = time.perf_counter() - start

    return {
        "membership": ProofTiming(
            len(members), member_s, member_raw_s, sum(len(m[3]) for m in members) / len(members)
        ),
        "non_membership": ProofTiming(
            len(absent), absent_s, absent_raw_s, sum(len(a[2]) for a in absent) / len(absent)
        ),
    }
