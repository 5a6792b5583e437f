"""How often adversarial stake captures a committee: the chain's sampler against its analytic bound.

app.modules.committee.logic sizes committees with a binomial tail (each seat independently bad with
the adversarial stake share). The chain then samples seats by stake without replacement and gives
every seat one vote in the medians (logic.SEAT_VOTE). Here the chain's own compute_committee draws
committees from a validator set with log-normal stakes, and a committee counts as captured when bad
members hold at least half of its seats (enough to set the lower median). Two adversaries hold the
same stake: spread over many validators, or one validator (a whale), which without replacement can
hold one seat at most.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.modules.committee.logic import BPS, PPB, compute_capture_probability_ppb, compute_committee

__all__ = ["LAYOUTS", "CaptureResult", "compute_rate_ratio", "make_validators", "simulate_capture"]

LAYOUTS = ("spread", "whale")


@dataclass(frozen=True)
class CaptureResult:
    """Simulated and analytic capture rates of one (layout, committee size)."""

    layout: str
    validators: int
    size: int
    adversarial_bps: int
    draws: int
    captured: int
    analytic_ppb: int

    @property
    def rate(self) -> float:
        """Return the simulated capture rate."""
        return self.captured / self.draws


def make_validators(
    layout: str, count: int, adversarial_bps: int, seed: int
) -> tuple[list[tuple[bytes, int]], set[bytes], int]:
    """Return (operator, stake) pairs, the adversarial operators and the stake share they hold (bps)."""
    rng = np.random.default_rng(seed)
    stakes = [int(s) for s in (rng.lognormal(0.0, 1.0, count) * 1_000_000).astype(np.int64) + 1]
    operators = [hashlib.sha256(f"validator/{i}".encode()).digest()[:20] for i in range(count)]
    if layout == "whale":
        # One validator holds adversarial_bps of all stake: scale its stake against the others'.
        others = sum(stakes[1:])
        stakes[0] = others * adversarial_bps // (BPS - adversarial_bps)
        bad = {operators[0]}
    else:
        bad, held, total = set(), 0, sum(stakes)
        for index in rng.permutation(count):
            if held * BPS >= adversarial_bps * total:
                break
            bad.add(operators[int(index)])
            held += stakes[int(index)]
    total = sum(stakes)
    share = sum(s for op, s in zip(operators, stakes, strict=True) if op in bad) * BPS // total
    return list(zip(operators, stakes, strict=True)), bad, share


def simulate_capture(
    layout: str,
    size: int,
    adversarial_bps: int,
    draws: int,
    validators: int = 100,
    seed: int = 0,
    on_draw: Callable[[], None] | None = None,
) -> CaptureResult:
    """Sample draws committees of size with compute_committee and count the captured ones."""
    members, bad, share = make_validators(layout, validators, adversarial_bps, seed)
    captured = 0
    for draw in range(draws):
        beacon = hashlib.sha256(f"synod/bench/capture/{seed}/{draw}".encode()).digest()
        seats = compute_committee(beacon, 1, draw, members, size)
        bad_seats = sum(operator in bad for operator, _ in seats)
        captured += 2 * bad_seats >= len(seats)
        if on_draw is not None:
            on_draw()
    analytic = compute_capture_probability_ppb(size, share)
    return CaptureResult(layout, validators, size, share, draws, captured, analytic)


def compute_rate_ratio(result: CaptureResult) -> float | None:
    """Return simulated / analytic rate, None when the analytic rate is zero."""
    analytic = result.analytic_ppb / PPB
    return result.rate / analytic if analytic else None
