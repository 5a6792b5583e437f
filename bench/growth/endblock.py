"""Time the consensus code of a round's close in-process, as process_end_block runs it.

The timed span is what tasks/hooks.py does when a reveal phase closes: decode each stored int16
update, build its Update, run the rule (timed on its own too: the rule's share of the close),
decode the current checkpoint, compute_next_weights, encode the new checkpoint and hash it.
Building the payloads (random int16 updates within the format's bound) is not timed; neither are
the store reads and writes around it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT, compute_next_weights, content_hash
from app.modules.tasks.aggregation import Update, get_rule
from bench.growth.sizing import make_rule_params

__all__ = ["Timing", "make_payloads", "measure_close", "time_close"]

# Realistic updates are small: a quarter of the int16 update format's +-4.0 bound.
_SPREAD = UPDATE_FORMAT.bound // 4


def make_payloads(workers: int, size: int, seed: int) -> tuple[list[bytes], bytes]:
    """n encoded int16 updates of `size` entries and an encoded int32 checkpoint, drawn from seed."""
    rng = np.random.default_rng(seed)
    updates = [
        UPDATE_FORMAT.encode(rng.integers(-_SPREAD, _SPREAD, size, dtype=np.int16)) for _ in range(workers)
    ]
    weights = WEIGHT_FORMAT.encode(rng.integers(-(1 << 16), 1 << 16, size, dtype=np.int32))
    return updates, weights


def time_close(rule: str, payloads: list[bytes], weights: bytes, size: int) -> tuple[float, float, bytes]:
    """Seconds of one round close over the payloads, the part of them the rule took, and the new hash."""
    params = make_rule_params(rule, len(payloads))
    started = time.perf_counter()
    updates = [
        Update(f"worker{i:03d}", UPDATE_FORMAT.decode(payload, size), 100)
        for i, payload in enumerate(payloads)
    ]
    ruled = time.perf_counter()
    aggregate = get_rule(rule)(updates, params)
    rule_s = time.perf_counter() - ruled
    current: NDArray[np.int64] = WEIGHT_FORMAT.decode(weights, size)
    digest = content_hash(WEIGHT_FORMAT.encode(compute_next_weights(current, aggregate)))
    return time.perf_counter() - started, rule_s, digest


@dataclass(frozen=True)
class Timing:
    """A cell's timed closes: the first (fresh memory: page faults), the best, and the best's rule share."""

    first_s: float
    best_s: float
    rule_s: float


def measure_close(rule: str, workers: int, size: int, repeats: int, seed: int = 0) -> Timing:
    """Time `repeats` closes of n updates of d parameters under rule; keep the first and the best."""
    payloads, weights = make_payloads(workers, size, seed)
    runs = [time_close(rule, payloads, weights, size) for _ in range(repeats)]
    assert len({digest for _, _, digest in runs}) == 1, "a round close must be deterministic"
    best_s, rule_s, _ = min(runs)
    return Timing(runs[0][0], best_s, rule_s)
