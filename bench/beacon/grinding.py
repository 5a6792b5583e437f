"""The beacon's residual bias: a proposer that may leave k shares out grinds over 2^k seeds.

Model. 100 validators with log-normal stake (a few large, many small, as on live chains), all on
committee duty and all online. The adversary holds a random subset of them worth `fraction` of the
stake. A committee is drawn by compute_committee from the seed, weighted by power, and is *captured*
when the adversary holds at least half of its weight (then it sets the lower weighted median). When
the adversary proposes the block whose seed samples the committee (probability = its stake share),
it may leave out any shares whose power the commit can spare (> 2/3 must remain): each subset gives
a new, independent-looking seed, and it keeps one that captures, if any.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.modules.committee import beacon
from app.modules.committee.logic import compute_committee, compute_committee_size
from synod.committee.v1 import beacon_pb2

__all__ = [
    "GRIND_BITS",
    "Adversary",
    "compute_grinding",
    "count_omittable",
    "estimate_capture",
    "make_adversary",
    "make_validators",
    "required_size",
    "simulate_grinding",
]

GRIND_BITS = (0, 1, 4, 8, 12, 16, 20)
CHAIN = "synod-bench"
PPB = 1_000_000_000


@dataclass(frozen=True)
class Adversary:
    """The adversary's validators (addresses) and its exact stake share in basis points."""

    addresses: frozenset[bytes]
    stake_bps: int


def make_validators(n: int, rng: np.random.Generator) -> list[tuple[bytes, int]]:
    """n (address, power) pairs with log-normal power (sigma 1: the top one holds ~5-10%)."""
    powers = np.maximum((rng.lognormal(0.0, 1.0, n) * 1000).astype(np.int64), 1)
    return [(rng.bytes(20), int(p)) for p in powers]


def make_adversary(
    validators: list[tuple[bytes, int]], fraction_bps: int, rng: np.random.Generator
) -> Adversary:
    """Random validators, each taken if it still fits under fraction_bps of the stake."""
    total = sum(p for _, p in validators)
    target = total * fraction_bps // 10_000
    chosen, stake = [], 0
    for i in rng.permutation(len(validators)):
        address, power = validators[i]
        if stake + power <= target:
            chosen.append(address)
            stake += power
    return Adversary(frozenset(chosen), stake * 10_000 // total)


def _captured(committee: list[tuple[bytes, int]], adversary: Adversary) -> bool:
    """The adversary holds at least half of the committee's weight."""
    bad = sum(w for m, w in committee if m in adversary.addresses)
    return 2 * bad >= sum(w for _, w in committee)


def estimate_capture(
    validators: list[tuple[bytes, int]], adversary: Adversary, size: int, seeds: int, rng: np.random.Generator
) -> tuple[int, int]:
    """(captures, samples) over fresh random seeds: the capture rate without grinding."""
    hits = sum(
        _captured(compute_committee(rng.bytes(32), 1, 1, validators, size), adversary) for _ in range(seeds)
    )
    return hits, seeds


def compute_grinding(p: float, bits: int) -> float:
    """P(at least one of 2^bits independent seeds captures), each with probability p."""
    return 1.0 - (1.0 - p) ** (2**bits)


def count_omittable(validators: list[tuple[bytes, int]], adversary: Adversary) -> tuple[int, int]:
    """(honest, all) shares a proposer can leave out at once with everyone online: the smallest
    first, while the commit keeps > 2/3 of the power (CometBFT's rule, integer form)."""
    total = sum(p for _, p in validators)
    slack = total - (total * 2 // 3 + 1)

    def fit(powers: list[int]) -> int:
        used = count = 0
        for p in sorted(powers):
            if used + p > slack:
                break
            used, count = used + p, count + 1
        return count

    honest = [p for a, p in validators if a not in adversary.addresses]
    return fit(honest), fit([p for _, p in validators])


def simulate_grinding(
    validators: list[tuple[bytes, int]],
    adversary: Adversary,
    size: int,
    bits: int,
    trials: int,
    rng: np.random.Generator,
) -> float:
    """Capture rate when the adversary tries every subset of `bits` honest shares, with the chain's
    own compute_seed over random 96-byte shares (the unpredictable BLS outputs)."""
    honest = sorted((p, a) for a, p in validators if a not in adversary.addresses)
    disliked = [a for _, a in honest[:bits]]  # the smallest: the cheapest to leave out
    hits = 0
    for trial in range(trials):
        shares = {a: rng.bytes(96) for a, _ in validators}
        for mask in range(2**bits):
            left_out = {disliked[i] for i in range(bits) if mask >> i & 1}
            entries = [
                beacon_pb2.BeaconEntry(validator_address=a, signature=shares[a])
                for a in sorted(shares)
                if a not in left_out
            ]
            seed = beacon.compute_seed(CHAIN, trial + 1, entries)
            if _captured(compute_committee(seed, 1, trial + 1, validators, size), adversary):
                hits += 1
                break
    return hits / trials


def required_size(adversarial_bps: int, target_ppb: int, bits: int, max_size: int = 1_000) -> int:
    """The committee size that keeps the capture bound at target even against 2^bits tries."""
    return compute_committee_size(adversarial_bps, max(target_ppb >> bits, 1), max_size)
