"""The bench's grid: every (attack, fraction) scenario on every seed's world, cold and after warm-up.

A scenario runs its queries twice. Cold: every query is settled with every reputation at its initial
value, as the first query of a network is. Warm: the queries run in order, each query's labels are
revealed once it settles, and every participant's reputation takes one step of the chain's integer
moving average (logic.compute_reputation) with its accuracy in bps (logic.compute_observation of its
last entries) as the observation; the warm figures count only the queries after the warm-up.
Baselines are scored on the same inputs: the best honest participant in hindsight, a centralized
one-model-one-vote majority of every round-0 submission, and of the honest models only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.ml.predattacks import parse_predict_attack
from app.modules.consensus.logic import compute_matches, compute_observation, compute_reputation
from bench.consensus.config import CLEAN, ConsConfig, World, compute_attackers
from bench.consensus.protocol import QueryOutcome, run_query

__all__ = ["PHASES", "Cell", "Counts", "RunResult", "plan_cells", "run_cell", "run_grid"]

PHASES = ("cold", "warm")


@dataclass(frozen=True)
class Cell:
    """One scenario: an attack spec (CLEAN for none) at a share of the participants."""

    attack: str
    fraction_pct: int


@dataclass
class Counts:
    """Correct answers over a set of inputs, per way of answering them."""

    inputs: int = 0
    settled: int = 0
    round0: int = 0  # the tally of round 0 alone: no communication rounds
    vote_all: int = 0
    vote_honest: int = 0
    per_participant: NDArray[np.int64] | None = None  # each honest model's own correct answers

    def pct(self, name: str) -> float:
        """Return the accuracy of one way of answering, in percent."""
        return 100 * getattr(self, name) / self.inputs

    def best_single_pct(self) -> float:
        """Return the accuracy of the best honest participant on these inputs, in percent."""
        assert self.per_participant is not None
        return 100 * int(self.per_participant.max()) / self.inputs


@dataclass
class RunResult:
    """One (cell, seed): counts per phase and the mean final reputations of honest and attacking ones."""

    counts: dict[str, Counts] = field(default_factory=lambda: {p: Counts() for p in PHASES})
    honest_reputation_bps: float = 0.0
    attacker_reputation_bps: float | None = None


def plan_cells(config: ConsConfig) -> list[Cell]:
    """Return the clean scenario, then every attack at every non-zero fraction."""
    attacked = [Cell(a, f) for a in config.attacks for f in config.fractions_pct if f > 0]
    return [Cell(CLEAN, 0), *attacked] if 0 in config.fractions_pct else attacked


def _vote(labels: NDArray[np.int64], n_classes: int) -> NDArray[np.int64]:
    """Return the plain majority class per column of a (voters, inputs) label matrix; ties to the smaller."""
    counts = np.apply_along_axis(np.bincount, 0, labels, minlength=n_classes)
    return np.argmax(counts, axis=0)


def _score(
    counts: Counts, outcome: QueryOutcome, probs: NDArray[np.float64], y: NDArray[np.int64], honest: list[int]
) -> None:
    """Add one query's correct answers to counts."""
    first = np.array([[label for label, _ in e] for e in outcome.entries_by_round[0]])
    own = np.argmax(probs[honest], axis=2)
    counts.inputs += len(y)
    counts.settled += int(np.sum(np.array(outcome.settled) == y))
    counts.round0 += int(np.sum(np.array(outcome.answers_by_round[0]) == y))
    counts.vote_all += int(np.sum(_vote(first, probs.shape[2]) == y))
    counts.vote_honest += int(np.sum(_vote(own, probs.shape[2]) == y))
    correct = np.sum(own == y, axis=1)
    counts.per_participant = correct if counts.per_participant is None else counts.per_participant + correct


def run_cell(config: ConsConfig, world: World, cell: Cell) -> RunResult:
    """Run one scenario on one world: the cold pass, then the warm pass with reputations learned."""
    attackers = (
        compute_attackers(config, world.seed, cell.fraction_pct) if cell.attack != CLEAN else frozenset()
    )
    attacks = {i: parse_predict_attack(cell.attack) for i in sorted(attackers)}
    honest = [i for i in range(config.participants) if i not in attackers]
    result = RunResult()
    initial = [config.initial_reputation_bps] * config.participants
    reputations = list(initial)
    for query_id, rows in enumerate(world.queries(config)):
        probs, y = world.probs[:, rows], world.labels[rows]
        cold = run_query(config, probs, attacks, initial, world.seed, query_id)
        _score(result.counts["cold"], cold, probs, y, honest)
        warm = (
            cold
            if reputations == initial
            else run_query(config, probs, attacks, reputations, world.seed, query_id)
        )
        if query_id >= config.warmup_queries:
            _score(result.counts["warm"], warm, probs, y, honest)
        final = warm.entries_by_round[-1]
        observed = [compute_observation(compute_matches(e, y.tolist()), len(y)) for e in final]
        reputations = [
            compute_reputation(r, o, config.reputation_window)
            for r, o in zip(reputations, observed, strict=True)
        ]
    result.honest_reputation_bps = float(np.mean([reputations[i] for i in honest]))
    if attackers:
        result.attacker_reputation_bps = float(np.mean([reputations[i] for i in attackers]))
    return result


def run_grid(config: ConsConfig, on_step: Callable[[str], None]) -> dict[Cell, list[RunResult]]:
    """Run every cell on every seed's world; on_step(description) after each training and each run."""
    results: dict[Cell, list[RunResult]] = {cell: [] for cell in plan_cells(config)}
    for seed in config.seeds:
        world = World(config, seed)
        on_step(f"seed {seed}: trained {config.participants} participants")
        for cell in results:
            results[cell].append(run_cell(config, world, cell))
            on_step(f"seed {seed}: {cell.attack} {cell.fraction_pct}%")
    return results
