"""One simulated federation under attack: workers, attackers, a committee, and the chain's integer rules.

Each round every worker trains from the global model; malicious workers hand their honest update to
their attack, which decides what to reveal (or to withhold). The rule then aggregates the reveals
exactly as the chain does (app.modules.tasks.aggregation, app.core.fixedpoint). A ``committee+RULE``
rule first has an honest committee score every reveal with app.ml.scoring, drops replays
(logic.compute_replayed: the exact bytes of an earlier reveal of the task, or of another worker's
reveal in the same round), judges with app.modules.committee.logic.compute_verdicts, and aggregates
only the accepted updates with RULE.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.core.fixedpoint import UPDATE_FORMAT, compute_next_weights, compute_update_between
from app.ml.attacks import AttackContext, CommitteeAttack, WorkerAttack
from app.ml.federated import compute_round_config, worker_id
from app.ml.quantize import UPDATE_SPEC, WEIGHT_SPEC, dequantize, quantize
from app.ml.scoring import compute_reference_update, score_directions, score_model, score_round
from app.modules.committee.logic import (
    DirectionRule,
    MemberScores,
    RoundVerdicts,
    compute_eval_sample,
    compute_member_faults,
    compute_replayed,
    compute_stray_tolerances,
    compute_verdicts,
)
from app.modules.tasks.aggregation import Update, get_rule, make_params
from app.modules.tasks.aggregation.krum import compute_krum_scores
from bench.byzantine.config import COMMITTEE_PREFIX, KRUM_PCT, TRIM_PCT, World, compute_attack_seed
from synod.committee.v1 import committee_pb2

__all__ = ["Committee", "RunResult", "compute_rule_params", "make_committee", "run_scenario"]

ACCEPTED = committee_pb2.VERDICT_ACCEPTED
BPS = 10_000


@dataclass
class RunResult:
    """One scenario's outcome; the counts cover every round, selection counts only for selecting rules."""

    accuracy_pct: float
    accuracy_pct_per_round: list[float]
    selects: bool
    malicious_total: int = 0
    malicious_excluded: int = 0
    malicious_harmless: int = 0  # accepted, but the round's model is no worse on the test rows with them
    honest_total: int = 0
    honest_penalized: int = 0
    member_rounds: int = 0  # (bad member, round) pairs, for committee attacks
    bad_flagged: int = 0
    honest_member_rounds: int = 0
    honest_flagged: int = 0
    verdicts_total: int = 0
    verdicts_as_honest: int = 0  # verdicts equal to those the honest members alone would reach


# A committee turns the honest members' attestations, the colluding workers' ids and the baseline the
# chain published last round into the attestations it sends, and names its misbehaving seats.
Committee = Callable[[list[MemberScores], set[bytes], int | None], tuple[list[MemberScores], set[bytes]]]


def compute_rule_params(rule: str, count: int) -> dict[str, int]:
    """Return the parameters of a bench rule for count updates (see config.TRIM_PCT and KRUM_PCT)."""
    base = rule.removeprefix(COMMITTEE_PREFIX)
    if base == "trimmed_mean":
        return {"trim": TRIM_PCT[rule] * count // 100}
    if base == "krum":
        # Krum needs n >= 2f + 3; multi-Krum averages the n - f best, the honest share it assumes.
        byzantine = max(0, min(KRUM_PCT * count // 100, (count - 3) // 2))
        return {"byzantine": byzantine, "m": count - byzantine}
    return {}


def _aggregate(
    rule: str, reveals: dict[int, tuple[NDArray[np.int64], int]]
) -> tuple[NDArray[np.int64], set[int]]:
    """Return the rule's aggregate of the reveals and the workers it used (all, unless Krum selects)."""
    ids = sorted(reveals)
    params = compute_rule_params(rule, len(ids))
    base = rule.removeprefix(COMMITTEE_PREFIX)
    batch = [Update(worker_id(w), reveals[w][0], reveals[w][1]) for w in ids]
    aggregate = get_rule(base)(batch, make_params(base, params))
    if base != "krum":
        return aggregate, set(ids)
    scores = compute_krum_scores(np.stack([reveals[w][0] for w in ids]), params["byzantine"])
    ranked = [index for _, index in sorted(zip(scores, range(len(ids)), strict=True))]
    return aggregate, {ids[index] for index in ranked[: params["m"]]}


def _update_key(update: NDArray[np.int64]) -> bytes:
    """Return the hash of an update's wire bytes, by which replays are recognized."""
    return hashlib.sha256(UPDATE_FORMAT.encode(update)).digest()


@dataclass
class _Round:
    """What a committee round needs to know besides the reveals."""

    world: World
    weights: NDArray[np.int64]
    history: set[bytes]
    max_drop_bps: int
    tolerance_bps: int
    round_index: int = 0

    @property
    def rule(self) -> DirectionRule | None:
        """The committee's direction test, None when the bench runs without it."""
        config = self.world.config
        if not config.max_norm_ratio_bps:
            return None
        return DirectionRule(config.min_direction_bps, config.max_norm_ratio_bps)


def _round_seed(world: World, round_index: int) -> bytes:
    """Return the committee seed of one simulated round (the beacon's output on chain)."""
    return hashlib.sha256(f"synod/bench/byzantine/seed/{world.seed}/{round_index}".encode()).digest()


def _score_member(
    state: _Round, operator: bytes, keys: list[bytes], updates: list[NDArray[np.int64]]
) -> MemberScores:
    """One honest member's attestation: scores and directions on its own seed-chosen evaluation rows."""
    world = state.world
    config = world.config
    rows = compute_eval_sample(
        _round_seed(world, state.round_index),
        0,
        state.round_index,
        operator,
        int(world.y_val.shape[0]),
        config.eval_sample_rows,
    )
    x, y = world.x_val[np.asarray(rows)], world.y_val[np.asarray(rows)]
    baseline, scores = score_round(config.arch, state.weights, updates, x, y)
    table = {key: (score, False) for key, score in zip(keys, scores, strict=True)}
    directions: dict[bytes, tuple[int, int]] = {}
    if state.rule is not None:
        train = compute_round_config(config.train_config(), state.round_index, 1_000_000 + operator[0])
        reference = compute_reference_update(config.arch, state.weights, x, y, train)
        directions = dict(zip(keys, score_directions(updates, reference), strict=True))
    return MemberScores(operator, 1, baseline, table, directions)


def _judge(
    state: _Round,
    reveals: dict[int, tuple[NDArray[np.int64], int]],
    result: RunResult,
    malicious: set[int],
    committee: Committee | None,
    last_baseline: int | None,
) -> RoundVerdicts:
    """Score and judge the reveals with the committee; record the members' behaviour in result."""
    ids = sorted(reveals)
    keys = [worker_id(w).encode() for w in ids]
    replayed = compute_replayed(
        {key: _update_key(reveals[w][0]) for w, key in zip(ids, keys, strict=True)}, state.history
    )
    world = state.world
    updates = [reveals[w][0] for w in ids]
    honest = [_score_member(state, bytes([i]), keys, updates) for i in range(world.config.committee_size)]
    if committee is None:
        verdicts = compute_verdicts(keys, honest, replayed, state.max_drop_bps, state.rule)
    else:
        colluding = {worker_id(w).encode() for w in malicious}
        members, bad = committee(honest, colluding, last_baseline)
        verdicts = compute_verdicts(keys, members, replayed, state.max_drop_bps, state.rule)
        _check_members(state, result, keys, replayed, members, bad, verdicts)
    return verdicts


def _check_members(
    state: _Round,
    result: RunResult,
    keys: list[bytes],
    replayed: set[bytes],
    members: list[MemberScores],
    bad: set[bytes],
    verdicts: RoundVerdicts,
) -> None:
    """Record whether the verdicts match the honest members' alone and which members are flagged."""
    honest = [m for m in members if m.operator not in bad]
    reference = compute_verdicts(keys, honest, replayed, state.max_drop_bps, state.rule)
    result.verdicts_total += len(keys)
    result.verdicts_as_honest += sum(verdicts.updates[k][0] == reference.updates[k][0] for k in keys)
    seats = [m.operator for m in members]
    sample = state.world.config.eval_sample_rows
    tolerance = compute_stray_tolerances(state.tolerance_bps, sample, state.rule is not None)
    faults = compute_member_faults(seats, members, verdicts, tolerance)
    for operator in seats:
        if operator in bad:
            result.member_rounds += 1
            result.bad_flagged += faults[operator][0]
        else:
            result.honest_member_rounds += 1
            result.honest_flagged += faults[operator][0]


def _reveal(
    world: World,
    attack: WorkerAttack | None,
    malicious: set[int],
    round_index: int,
    weights: NDArray[np.int64],
    public: list[tuple[int, NDArray[np.float32]]],
    previous_delta: NDArray[np.float32] | None,
) -> dict[int, tuple[NDArray[np.int64], int]]:
    """Return each revealing worker's (integer update, sample count); attackers' come from their attack."""
    honest = {
        w: world.local_update(weights, round_index, w, attack if w in malicious else None)
        for w in range(world.config.workers)
    }
    if attack is None:
        return honest
    current = dequantize(weights, WEIGHT_SPEC)
    colluders = [dequantize(honest[w][0], UPDATE_SPEC) for w in sorted(malicious)]
    reveals = {}
    for w in range(world.config.workers):
        if w not in malicious:
            reveals[w] = honest[w]
            continue
        ctx = AttackContext(
            round=round_index,
            seed=compute_attack_seed(world.seed, round_index, w),
            honest_update=dequantize(honest[w][0], UPDATE_SPEC),
            colluder_updates=colluders,
            public_updates=[update for owner, update in public if owner != w],
            current_weights=current,
            n_workers=world.config.workers,
            previous_global_delta=previous_delta,
        )
        crafted = attack.craft_update(ctx)
        if crafted is not None:
            reveals[w] = (quantize(crafted, UPDATE_SPEC), honest[w][1])
    return reveals


def run_scenario(
    world: World,
    rule: str,
    attack: WorkerAttack | None = None,
    fraction_pct: int = 0,
    committee: Committee | None = None,
    max_drop_bps: int | None = None,
) -> RunResult:
    """Run config.rounds rounds of rule against attack at fraction_pct and return what happened."""
    config = world.config
    malicious = world.malicious(fraction_pct) if attack is not None else set()
    judged = rule.startswith(COMMITTEE_PREFIX)
    base_rule = rule.removeprefix(COMMITTEE_PREFIX)
    result = RunResult(0.0, [], selects=judged or base_rule == "krum")
    drop = config.max_drop_bps if max_drop_bps is None else max_drop_bps
    state = _Round(world, world.initial, set(), drop, config.tolerance_bps)
    public: list[tuple[int, NDArray[np.float32]]] = []
    previous_delta: NDArray[np.float32] | None = None
    last_baseline: int | None = None
    for round_index in range(config.rounds):
        state.round_index = round_index
        reveals = _reveal(world, attack, malicious, round_index, state.weights, public, previous_delta)
        candidates = reveals
        if judged and reveals:
            verdicts = _judge(state, reveals, result, malicious, committee, last_baseline)
            last_baseline = verdicts.baseline_bps
            candidates = {
                w: r for w, r in reveals.items() if verdicts.updates[worker_id(w).encode()][0] == ACCEPTED
            }
        aggregate, used = _aggregate(rule, candidates) if candidates else (None, set())
        _count(result, config.workers, malicious, used)
        if judged and aggregate is not None and used & malicious:
            result.malicious_harmless += len(used & malicious) * _harmless(
                world, state.weights, rule, aggregate, {w: candidates[w] for w in used - malicious}
            )
        state.history.update(_update_key(update) for update, _ in reveals.values())
        public.extend((w, dequantize(reveals[w][0], UPDATE_SPEC)) for w in sorted(reveals))
        if aggregate is not None:
            moved = compute_next_weights(state.weights, aggregate)
            previous_delta = dequantize(compute_update_between(state.weights, moved), UPDATE_SPEC)
            state.weights = moved
        result.accuracy_pct_per_round.append(_accuracy_pct(world, state.weights))
    result.accuracy_pct = result.accuracy_pct_per_round[-1]
    return result


def _count(result: RunResult, workers: int, malicious: set[int], used: set[int]) -> None:
    """Add one round's selection counts: a malicious update not used (or withheld) counts as excluded."""
    for w in range(workers):
        if w in malicious:
            result.malicious_total += 1
            result.malicious_excluded += w not in used
        else:
            result.honest_total += 1
            result.honest_penalized += w not in used


def _harmless(
    world: World,
    weights: NDArray[np.int64],
    rule: str,
    aggregate: NDArray[np.int64],
    honest: dict[int, tuple[NDArray[np.int64], int]],
) -> bool:
    """Whether the accepted malicious updates were harmless this round (measured on the test rows).

    Harmless: the round's model with them is less accurate than the model the same rule makes of the
    accepted honest updates alone by no more than the honest spread, the largest accuracy change
    that leaving out any one accepted honest update makes (at least one test row).
    """
    arch, x, y = world.config.arch, world.x_test, world.y_test

    def accuracy(reveals: dict[int, tuple[NDArray[np.int64], int]]) -> int:
        """Return the test accuracy (bps) of the round's model from reveals (the start model if none)."""
        if not reveals:
            return score_model(arch, weights, x, y)
        return score_model(arch, compute_next_weights(weights, _aggregate(rule, reveals)[0]), x, y)

    with_them = score_model(arch, compute_next_weights(weights, aggregate), x, y)
    without = accuracy(honest)
    spread = max(
        [abs(without - accuracy({w: r for w, r in honest.items() if w != out})) for out in honest],
        default=0,
    )
    return without - with_them <= max(spread, -(-10_000 // int(y.shape[0])))


def _accuracy_pct(world: World, weights: NDArray[np.int64]) -> float:
    """Return the test accuracy of weights in percent."""
    return score_model(world.config.arch, weights, world.x_test, world.y_test) / 100


def make_committee(attack: CommitteeAttack, bad_members: int) -> Committee:
    """Return a committee in which the first bad_members seats play attack and the rest are honest."""

    def attest(
        honest: list[MemberScores], colluding: set[bytes], last_baseline: int | None
    ) -> tuple[list[MemberScores], set[bytes]]:
        """Replace the first bad_members honest attestations by the attack's."""
        truth = honest[0]
        true_scores = {key.decode(): score for key, (score, _) in truth.scores.items()}
        colluders = {key.decode() for key in colluding}
        if attack.needs_evaluation:
            baseline, scores = attack.attest(truth.baseline_bps, true_scores, colluders)
        else:
            # A member that skips evaluation only knows the baseline the chain published last round.
            baseline, scores = attack.attest(last_baseline, None, colluders, workers=sorted(true_scores))
        table = {key.encode(): (score, False) for key, score in scores.items()}
        # A bad member's directions follow its scores: its own workers look aligned, the others opposed
        # (collude), or nothing at all (a lazy member that never trained a reference).
        directions = {
            key: ((BPS if key in colluding else -BPS) if attack.needs_evaluation else 0, BPS) for key in table
        }
        swapped = [
            MemberScores(m.operator, m.weight, baseline, table, directions) for m in honest[:bad_members]
        ]
        return swapped + honest[bad_members:], {m.operator for m in swapped}

    return attest
