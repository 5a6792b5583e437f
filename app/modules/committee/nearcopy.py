"""Near-copy detection: exact integer cosine similarity between quantized updates (README "Near copies").

An update whose cosine with another update of its round, or with an update kept from the task's last
judged round, reaches near_copy_threshold_bps counts as a copy. Cosine is scale-invariant, so
alpha x u is caught with u; noise lowers it by an amount bench/nearcopy measures. Everything is
integer arithmetic: dot products are exact (numpy int64 under a proven bound, Python ints beyond
it) and the threshold test squares both sides, so every node decides alike.

Work is bounded: comparing n updates with each other and with m kept ones costs
(n^2 + n x m + m) x k coordinate products over k coordinates; when all d coordinates would exceed
max_near_copy_work, k shrinks to fit and the coordinates are a sample drawn from a seed nobody knows
when committing (the round's update hashes and the beacon seed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from math import isqrt

import numpy as np
from numpy.typing import NDArray

from app.core.codec import u64be

__all__ = [
    "NEAR_COPY_DOMAIN",
    "NearCopies",
    "compute_cosine_bps",
    "compute_near_copies",
    "compute_near_copy_seed",
    "compute_near_copy_work",
    "compute_sample_indices",
    "compute_sample_size",
    "is_near_copy",
]

BPS = 10_000
NEAR_COPY_DOMAIN = b"synod/committee/nearcopy/v1"
# numpy int64 sums of products stay exact while k x max|a| x max|b| < 2^63 (checked per call).
_INT64_LIMIT = 1 << 63
_MASK64 = (1 << 64) - 1


def is_near_copy(dot: int, norm_a: int, norm_b: int, threshold_bps: int) -> bool:
    """cos(a, b) >= threshold_bps / 10^4, exactly: dot > 0 and dot^2 x 10^8 >= t^2 x |a|^2 x |b|^2.

    norm_a and norm_b are squared norms. A zero vector is nobody's copy; a negative cosine (a sign
    flip) is not a copy either: sign flips are the direction rule's to catch.
    """
    if dot <= 0 or norm_a == 0 or norm_b == 0:
        return False
    return dot * dot * BPS * BPS >= threshold_bps * threshold_bps * norm_a * norm_b


def compute_cosine_bps(dot: int, norm_a: int, norm_b: int) -> int:
    """The cosine in bps, rounded toward zero; is_near_copy(t) holds exactly when this is >= t > 0."""
    if norm_a == 0 or norm_b == 0:
        return 0
    magnitude = isqrt(dot * dot * BPS * BPS // (norm_a * norm_b))
    return magnitude if dot >= 0 else -magnitude


def compute_near_copy_work(current: int, kept: int, coordinates: int) -> int:
    """Coordinate products of one round's check: the current updates' Gram matrix, their products
    with the kept updates, and the kept updates' norms, over `coordinates` coordinates."""
    return (current * current + current * kept + kept) * coordinates


def compute_sample_size(current: int, kept: int, size: int, budget: int) -> int:
    """How many coordinates the check reads: all `size` if they fit the budget, else as many as fit
    (at least 1, so a round of more updates than the budget still compares on one coordinate)."""
    per_coordinate = compute_near_copy_work(current, kept, 1)
    if per_coordinate * size <= budget:
        return size
    return max(1, min(size, budget // max(per_coordinate, 1)))


def compute_near_copy_seed(
    task_id: int, round_: int, update_hashes: list[bytes], beacon_seed: bytes
) -> bytes:
    """The sample's seed: SHA-256(domain || task || round || beacon seed || sorted update hashes).

    A worker commits to its update before any other update of the round is revealed, so it cannot
    know which coordinates will be compared and hide its copy outside them.
    """
    digest = hashlib.sha256(NEAR_COPY_DOMAIN + u64be(task_id) + round_.to_bytes(4, "big") + beacon_seed)
    for update_hash in sorted(update_hashes):
        digest.update(update_hash)
    return digest.digest()


def compute_sample_indices(seed: bytes, size: int, count: int) -> NDArray[np.int64]:
    """`count` coordinates of `size`, sorted (all of them when count >= size): splitmix64 of a
    counter keyed by the seed, reduced mod size (uint64 arithmetic wraps the same on every machine)."""
    if count >= size:
        return np.arange(size, dtype=np.int64)
    key = np.uint64(int.from_bytes(seed[:8], "big") & _MASK64)
    with np.errstate(over="ignore"):
        z = key + np.arange(count, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return np.sort((z % np.uint64(size)).astype(np.int64))


def _gram(rows: NDArray[np.int64], cols: NDArray[np.int64]) -> list[list[int]]:
    """Exact rows x cols^T as Python ints: numpy int64 when no sum can overflow, else Python ints."""
    if rows.size == 0 or cols.size == 0:
        return [[0] * len(cols) for _ in range(len(rows))]
    bound = int(np.abs(rows).max()) * int(np.abs(cols).max()) * rows.shape[1]
    if bound < _INT64_LIMIT:
        return [[int(v) for v in line] for line in rows @ cols.T]
    exact = rows.astype(object) @ cols.astype(object).T
    return [[int(v) for v in line] for line in exact]


@dataclass(frozen=True)
class NearCopies:
    """One round's near copies: who is slashed (a subset of the excluded), who is excluded, the
    coordinates compared and the work done."""

    slashed: frozenset[bytes]
    excluded: frozenset[bytes]
    coordinates: int
    work: int


def compute_near_copies(
    current: dict[bytes, NDArray[np.int64]],
    kept: dict[bytes, NDArray[np.int64]],
    threshold_bps: int,
    budget: int,
    seed: bytes,
) -> NearCopies:
    """Judge a round's updates (worker -> vector) against each other and `kept` (worker -> vector).

    - A near copy of another worker's kept update (the task's last judged round) is excluded and
      slashed: that update was public before this round's commitments, so the later one is the copy.
      A worker's own kept update is not compared: near convergence an honest worker repeats its own
      direction (bench/nearcopy measured cosines up to 9999 bps).
    - A near-copy pair within the round is excluded (both) and neither is slashed: both were
      committed before either was revealed, so reveal order says nothing about who copied, and
      slashing one would let an attacker who obtained an honest update get its owner slashed.
    threshold_bps = 0 disables the rule.
    """
    workers, others = sorted(current), sorted(kept)
    size = len(current[workers[0]]) if workers else 0
    if threshold_bps == 0 or not workers or size == 0:
        return NearCopies(frozenset(), frozenset(), 0, 0)
    count = compute_sample_size(len(workers), len(others), size, budget)
    picks = compute_sample_indices(seed, size, count)
    rows = np.stack([np.asarray(current[w], np.int64)[picks] for w in workers])
    held = np.stack([np.asarray(kept[w], np.int64)[picks] for w in others]) if others else rows[:0]
    gram, cross = _gram(rows, rows), _gram(rows, held)
    held_norms = _gram_diagonal(held)
    slashed: set[bytes] = set()
    excluded: set[bytes] = set()
    for i, worker in enumerate(workers):
        if any(
            is_near_copy(cross[i][j], gram[i][i], held_norms[j], threshold_bps)
            for j, owner in enumerate(others)
            if owner != worker
        ):
            slashed.add(worker)
            excluded.add(worker)
        for j in range(i + 1, len(workers)):
            if is_near_copy(gram[i][j], gram[i][i], gram[j][j], threshold_bps):
                excluded.update((worker, workers[j]))
    work = compute_near_copy_work(len(workers), len(others), count)
    return NearCopies(frozenset(slashed), frozenset(excluded), count, work)


def _gram_diagonal(rows: NDArray[np.int64]) -> list[int]:
    """Each row's exact squared norm."""
    return [_gram(rows[i : i + 1], rows[i : i + 1])[0][0] for i in range(len(rows))]
