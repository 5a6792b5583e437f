"""One consensus query run in process with the chain's integer rules.

Round 0: every participant submits entries for the query's inputs (honest ones their model's
to_entries, attackers their attack's answer). After each round the chain's tally
(logic.compute_tally, weight = stake x reputation_bps) is public, and each participant is shown the
last entries of the peers logic.compute_peers draws for it from the round's seed. In rounds 1 .. R
honest participants submit app.ml.predict.revise of their own probabilities against that view;
attackers answer again. The last round's tally is the settlement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.ml.predattacks import Entries, PredictAttack, PredictContext
from app.ml.predict import revise, to_entries
from app.modules.consensus.logic import compute_peers, compute_tally, compute_weight
from bench.consensus.config import ConsConfig, compute_bench_seed

__all__ = ["QueryOutcome", "address", "run_query"]


@dataclass(frozen=True)
class QueryOutcome:
    """What one query produced: the tally answers after every round and every participant's entries."""

    answers_by_round: list[list[int]]  # [round][input]; the last is the settlement
    entries_by_round: list[list[Entries]]  # [round][participant]

    @property
    def settled(self) -> list[int]:
        """Return the settled class of every input."""
        return self.answers_by_round[-1]


def address(participant: int) -> bytes:
    """Return the 20-byte address the bench gives participant i (peer sampling keys on it)."""
    return participant.to_bytes(20, "big")


def _tally(
    entries: Sequence[Entries], weights: Sequence[int], n_inputs: int, n_classes: int
) -> list[tuple[int, int]]:
    """Return the chain's (answer, support_bps) per input for these submissions and weights."""
    votes = list(zip(weights, entries, strict=True))
    return [(t.answer, t.support_bps) for t in compute_tally(n_inputs, n_classes, votes)]


@dataclass(frozen=True)
class _Query:
    """The fixed parts of one query's run."""

    config: ConsConfig
    probs: NDArray[np.float64]  # (participants, inputs, classes)
    attacks: Mapping[int, PredictAttack]
    seed: int
    query_id: int


def _attack_entries(q: _Query, i: int, round_: int, tallies: list[tuple[int, int]] | None) -> Entries:
    """Return what attacking participant i submits in round_."""
    ctx = PredictContext(
        round_,
        to_entries(q.probs[i]),
        tallies,
        compute_bench_seed(q.seed, q.query_id, "attacker", i),
        compute_bench_seed(q.seed, q.query_id),
        q.probs.shape[2],
    )
    return q.attacks[i].answer(ctx)


def _first_round(q: _Query) -> list[Entries]:
    """Return round 0's entries: the models' own, or the attacks'."""
    return [
        _attack_entries(q, i, 0, None) if i in q.attacks else to_entries(q.probs[i])
        for i in range(len(q.probs))
    ]


def _next_round(q: _Query, round_: int, tallies: list[tuple[int, int]], last: list[Entries]) -> list[Entries]:
    """Return round_'s entries: honest participants revise against the tally and their peers' last entries."""
    others = [address(i) for i in range(len(q.probs))]
    seed = compute_bench_seed(q.seed, q.query_id, "round", round_ - 1).to_bytes(4, "big")
    out = []
    for i in range(len(q.probs)):
        if i in q.attacks:
            out.append(_attack_entries(q, i, round_, tallies))
            continue
        shown = compute_peers(seed, q.query_id, round_ - 1, address(i), others, q.config.peer_sample)
        peers = [last[int.from_bytes(p, "big")] for p in shown]
        out.append(revise(q.probs[i], tallies, peers, q.config.trust, q.config.keep_bps))
    return out


def run_query(
    config: ConsConfig,
    probs: NDArray[np.float64],
    attacks: Mapping[int, PredictAttack],
    reputations: Sequence[int],
    seed: int,
    query_id: int,
) -> QueryOutcome:
    """Run round 0 and config.rounds communication rounds; probs is (participants, inputs, classes)."""
    q = _Query(config, probs, attacks, seed, query_id)
    weights = [compute_weight(config.stake, r) for r in reputations]
    entries = _first_round(q)
    tallies = _tally(entries, weights, probs.shape[1], probs.shape[2])
    answers, history = [[a for a, _ in tallies]], [entries]
    for round_ in range(1, config.rounds + 1):
        entries = _next_round(q, round_, tallies, entries)
        tallies = _tally(entries, weights, probs.shape[1], probs.shape[2])
        answers.append([a for a, _ in tallies])
        history.append(entries)
    return QueryOutcome(answers, history)
