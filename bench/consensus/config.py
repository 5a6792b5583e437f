"""The consensus bench's settings and the per-seed world of trained participants it runs on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.ml.datasets import DataSpec, load_dataset
from app.ml.predict import DEFAULT_KEEP_BPS, DEFAULT_TRUST, train_predictor

__all__ = ["ARCHS", "ATTACKS", "CLEAN", "ConsConfig", "World", "compute_attackers", "compute_bench_seed"]

# Heterogeneous participants: participant i runs ARCHS[i % len(ARCHS)].
ARCHS = ("logreg", "mlp:16", "mlp:32", "mlp:64", "mlp:32-16", "mlp:64-32")
ATTACKS = ("stubborn", "random", "collude:group=bench")
CLEAN = "none"


@dataclass(frozen=True)
class ConsConfig:
    """One run of the bench: data, participants, protocol, attacks and reputation."""

    dataset: str = "digits"
    seeds: tuple[int, ...] = (0, 1, 2)
    participants: int = 20
    archs: tuple[str, ...] = ARCHS
    alpha: float = 0.5
    epochs: int = 30
    learning_rate: float = 0.01
    query_size: int = 20  # inputs per query; the test rows are cut into consecutive queries
    max_queries: int = 0  # 0: as many as the test rows fill
    rounds: int = 2  # communication rounds after round 0
    peer_sample: int = 5
    trust: float = DEFAULT_TRUST
    keep_bps: int = DEFAULT_KEEP_BPS
    fractions_pct: tuple[int, ...] = (0, 10, 20, 30)
    attacks: tuple[str, ...] = ATTACKS
    stake: int = 1  # equal stakes: weight = stake x reputation_bps
    reputation_window: int = 8
    initial_reputation_bps: int = 5_000
    warmup_queries: int = 8  # queries whose labels build reputation before the warm figures count

    def attackers(self, fraction_pct: int) -> int:
        """Return how many participants attack at fraction_pct."""
        return self.participants * fraction_pct // 100


def compute_bench_seed(*parts: int | str) -> int:
    """Return a 32-bit seed derived from the parts (per seed, query, participant, round)."""
    digest = hashlib.sha256("/".join(["synod/bench/consensus", *map(str, parts)]).encode()).digest()
    return int.from_bytes(digest[:4], "big")


class World:
    """One seed's participants, trained on their shards, and their probabilities on every test row."""

    def __init__(self, config: ConsConfig, seed: int) -> None:
        """Split the dataset by seed and train every participant on its Dirichlet shard."""
        data = load_dataset(config.dataset, seed=seed)
        self.seed = seed
        self.labels: NDArray[np.int64] = data.y_test
        self.n_classes = data.n_classes
        self.archs = [config.archs[i % len(config.archs)] for i in range(config.participants)]
        probs = []
        for i, arch in enumerate(self.archs):
            spec = DataSpec(config.dataset, i, config.participants, config.alpha, seed, seed)
            model = train_predictor(
                arch, spec, compute_bench_seed(seed, "init", i), config.epochs, config.learning_rate
            )
            probs.append(model.probabilities(data.x_test))
        self.probs: NDArray[np.float64] = np.stack(probs)  # (participants, test rows, classes)

    def queries(self, config: ConsConfig) -> list[slice]:
        """Return the test rows of each query, in posting order."""
        count = len(self.labels) // config.query_size
        if config.max_queries:
            count = min(count, config.max_queries)
        return [slice(q * config.query_size, (q + 1) * config.query_size) for q in range(count)]


def compute_attackers(config: ConsConfig, seed: int, fraction_pct: int) -> frozenset[int]:
    """Return the participants that attack at fraction_pct: a seeded draw, nested across fractions."""
    order = np.random.default_rng(compute_bench_seed(seed, "attackers")).permutation(config.participants)
    return frozenset(int(i) for i in order[: config.attackers(fraction_pct)])
