"""One conformance suite over every attack plugin (app/ml/attacks), then what each one claims to do."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.core.fixedpoint import UPDATE_FORMAT
from app.ml.attacks import (
    COMMITTEE_ATTACKS,
    WORKER_ATTACKS,
    AttackContext,
    AttackError,
    compute_alie_z,
    get_attack_params,
    is_committee_attack,
    parse_attack,
    parse_committee_attack,
    parse_worker_attack,
)
from app.ml.quantize import UPDATE_SPEC, dequantize, quantize
from app.modules.committee import nearcopy
from app.modules.committee.logic import MemberScores, StrayTolerances, compute_member_faults, compute_verdicts
from synod.committee.v1 import committee_pb2

DIM = 24
# Every worker attack with default and with explicit parameters.
WORKER_SPECS = [
    "label_flip",
    "sign_flip",
    "sign_flip:scale=4",
    "scaled",
    "scaled:factor=3",
    "alie",
    "alie:z=1.5",
    "alie:jitter=0.05",
    "ipm",
    "ipm:eps=2",
    "ipm:eps=0.5:jitter=0.05",
    "gaussian",
    "gaussian:sigma=0.1",
    "free_ride",
    "near_copy",
    "near_copy:noise=0.05:scale=2",
    "near_copy:source=colluder",
    "withhold",
]
COMMITTEE_SPECS = ["lazy", "lazy:score=9000", "collude", "collude:group=red:high=9000:low=100"]


def make_context(seed: int = 7, colluders: int = 3, public: int = 2, n_workers: int = 10) -> AttackContext:
    """Return a context with random float32 vectors that lie on the int16 update grid."""
    rng = np.random.default_rng(seed)

    def vector() -> np.ndarray:
        return dequantize(quantize(rng.normal(0, 0.05, DIM), UPDATE_SPEC), UPDATE_SPEC)

    colluding = [vector() for _ in range(colluders)]
    return AttackContext(
        round=3,
        seed=seed,
        honest_update=colluding[0] if colluding else vector(),
        colluder_updates=colluding,
        public_updates=[vector() for _ in range(public)],
        current_weights=rng.normal(0, 1, DIM).astype(np.float32),
        n_workers=n_workers,
        previous_global_delta=vector(),
    )


@pytest.mark.parametrize("spec", WORKER_SPECS)
def test_worker_attacks_return_float32_updates_of_the_honest_shape(spec: str) -> None:
    attack = parse_worker_attack(spec)
    ctx = make_context()
    crafted = attack.craft_update(ctx)
    if attack.name == "withhold":
        assert crafted is None
        return
    assert crafted is not None and crafted.dtype == np.float32 and crafted.shape == (DIM,)
    assert np.all(np.isfinite(crafted))
    assert crafted is not ctx.honest_update  # a copy: the caller's vector stays its own


@pytest.mark.parametrize("spec", WORKER_SPECS)
def test_worker_attacks_are_deterministic_and_leave_the_context_alone(spec: str) -> None:
    attack = parse_worker_attack(spec)
    ctx = make_context()
    before = [ctx.honest_update.copy(), *[u.copy() for u in ctx.colluder_updates]]
    first, second = attack.craft_update(ctx), attack.craft_update(make_context())
    assert (first is None and second is None) or np.array_equal(first, second)
    assert all(
        np.array_equal(a, b) for a, b in zip(before, [ctx.honest_update, *ctx.colluder_updates], strict=True)
    )
    labels = np.array([0, 1, 2, 9, 4])
    poisoned = attack.poison_labels(labels, 10)
    assert poisoned.shape == labels.shape and poisoned.min() >= 0 and poisoned.max() < 10


@pytest.mark.parametrize("spec", COMMITTEE_SPECS)
def test_committee_attacks_attest_every_worker_in_basis_points(spec: str) -> None:
    attack = parse_committee_attack(spec)
    truth = {"w1": 8100, "w2": 2000, "w3": 7900}
    given = truth if attack.needs_evaluation else None
    baseline, scores = attack.attest(
        8000 if attack.needs_evaluation else 7800, given, {"w2"}, workers=list(truth)
    )
    assert set(scores) == set(truth)
    assert all(isinstance(v, int) and 0 <= v <= 10_000 for v in [baseline, *scores.values()])
    assert (baseline, scores) == attack.attest(
        8000 if attack.needs_evaluation else 7800, given, {"w2"}, workers=list(truth)
    )


@pytest.mark.parametrize("name", sorted(WORKER_ATTACKS) + sorted(COMMITTEE_ATTACKS))
def test_every_registered_attack_parses_by_name_and_carries_it(name: str) -> None:
    attack = parse_attack(name)
    assert attack.name == name
    assert is_committee_attack(attack) == (name in COMMITTEE_ATTACKS)


def test_label_flip_mirrors_labels_and_sends_what_it_trained() -> None:
    attack = parse_worker_attack("label_flip")
    assert attack.poison_labels(np.array([0, 3, 9]), 10).tolist() == [9, 6, 0]
    assert attack.poison_labels(np.array([0, 1, 1]), 2).tolist() == [1, 0, 0]
    ctx = make_context()
    assert np.array_equal(attack.craft_update(ctx), ctx.honest_update)
    assert np.array_equal(parse_worker_attack("sign_flip").poison_labels(np.array([2, 5]), 10), [2, 5])


def test_sign_flip_negates_and_scales() -> None:
    ctx = make_context()
    assert np.array_equal(parse_worker_attack("sign_flip").craft_update(ctx), -ctx.honest_update)
    assert np.allclose(parse_worker_attack("sign_flip:scale=4").craft_update(ctx), -4 * ctx.honest_update)


def test_scaled_defaults_to_the_worker_count_for_model_replacement() -> None:
    ctx = make_context(n_workers=7)
    assert np.allclose(parse_worker_attack("scaled").craft_update(ctx), 7 * ctx.honest_update)
    assert np.allclose(parse_worker_attack("scaled:factor=2.5").craft_update(ctx), 2.5 * ctx.honest_update)


def test_alie_z_follows_the_paper() -> None:
    # n = 10, m = 2: s = floor(10 / 2 + 1) - 2 = 4, z = Phi^-1((10 - 4) / 10) = Phi^-1(0.6).
    assert compute_alie_z(10, 2) == pytest.approx(0.2533471, abs=1e-6)
    assert compute_alie_z(10, 1) == 0.0  # one attacker cannot move a median of ten
    assert compute_alie_z(10, 3) > compute_alie_z(10, 2)
    assert np.isfinite(compute_alie_z(10, 9))
    with pytest.raises(AttackError):
        compute_alie_z(10, 0)


@pytest.mark.parametrize("colluders", [2, 3])
def test_alie_stays_within_the_colluders_spread(colluders: int) -> None:
    ctx = make_context(colluders=colluders)
    stack = np.stack(ctx.colluder_updates).astype(np.float64)
    mean, std = stack.mean(axis=0), stack.std(axis=0)
    crafted = parse_worker_attack("alie").craft_update(ctx)
    assert np.allclose(crafted, mean - compute_alie_z(10, colluders) * std, atol=1e-6)
    # The paper's z (0.25 for 2 of 10, 0.52 for 3) keeps every coordinate inside the colluders' range:
    # mean - min >= std for two values and >= 0.70 std for three.
    assert np.all(crafted >= stack.min(axis=0) - 1e-6) and np.all(crafted <= mean + 1e-6)
    bold = parse_worker_attack("alie:z=1.5").craft_update(ctx)
    assert np.allclose(bold, mean - 1.5 * std, atol=1e-6)


def test_alie_without_a_worker_count_uses_z_one() -> None:
    ctx = make_context(n_workers=0)
    stack = np.stack(ctx.colluder_updates).astype(np.float64)
    expected = stack.mean(axis=0) - stack.std(axis=0)
    assert np.allclose(parse_worker_attack("alie").craft_update(ctx), expected, atol=1e-6)


def test_ipm_points_against_the_colluders_mean() -> None:
    ctx = make_context()
    mean = np.stack(ctx.colluder_updates).mean(axis=0)
    crafted = parse_worker_attack("ipm:eps=0.5").craft_update(ctx)
    assert np.allclose(crafted, -0.5 * mean, atol=1e-7)
    assert float(crafted @ mean) < 0


@pytest.mark.parametrize("spec", ["alie", "ipm"])
def test_jitter_makes_colluders_send_distinct_bytes_close_to_the_crafted_update(spec: str) -> None:
    plain = parse_worker_attack(spec)
    jittered = parse_worker_attack(f"{spec}:jitter=0.01")
    one = make_context(seed=1)
    two = dataclasses.replace(one, seed=2)  # another colluder of the same group
    assert plain.craft_update(one).tobytes() == plain.craft_update(two).tobytes()  # a replay on chain
    a, b = jittered.craft_update(one), jittered.craft_update(two)
    assert a is not None and b is not None and a.tobytes() != b.tobytes()
    crafted = plain.craft_update(one)
    assert crafted is not None
    assert np.linalg.norm(a - crafted) < 0.05 * np.linalg.norm(crafted)
    with pytest.raises(AttackError, match="jitter"):
        parse_worker_attack(f"{spec}:jitter=-1")


def test_gaussian_noise_is_seeded_and_has_the_asked_scale() -> None:
    attack = parse_worker_attack("gaussian:sigma=0.5")
    big = AttackContext(0, 11, np.zeros(20_000, np.float32), [], [], np.zeros(20_000, np.float32))
    noise = attack.craft_update(big)
    assert noise.std() == pytest.approx(0.5, rel=0.03) and abs(noise.mean()) < 0.02
    other = AttackContext(0, 12, big.honest_update, [], [], big.current_weights)
    assert not np.array_equal(noise, attack.craft_update(other))


def test_free_ride_replays_exact_bytes_then_the_global_delta_then_nothing() -> None:
    attack = parse_worker_attack("free_ride")
    ctx = make_context()
    replay = attack.craft_update(ctx)
    encoded = UPDATE_FORMAT.encode(quantize(replay, UPDATE_SPEC))
    assert encoded == UPDATE_FORMAT.encode(quantize(ctx.public_updates[-1], UPDATE_SPEC))
    no_public = make_context(public=0)
    assert np.array_equal(attack.craft_update(no_public), no_public.previous_global_delta)
    first_round = AttackContext(0, 1, ctx.honest_update, [], [], ctx.current_weights)
    assert not np.any(attack.craft_update(first_round))


def test_near_copy_keeps_the_sources_direction_in_new_bytes() -> None:
    ctx = make_context()
    source = quantize(ctx.public_updates[-1], UPDATE_SPEC)
    for spec in ("near_copy", "near_copy:scale=3", "near_copy:noise=0.02:scale=0.5"):
        copy = quantize(parse_worker_attack(spec).craft_update(ctx), UPDATE_SPEC)
        assert UPDATE_FORMAT.encode(copy) != UPDATE_FORMAT.encode(source), spec  # no exact replay
        x, y = copy.astype(object), source.astype(object)
        assert nearcopy.compute_cosine_bps(int(x @ y), int(x @ x), int(y @ y)) >= 9_950, spec
    colluder = parse_worker_attack("near_copy:noise=0:source=colluder").craft_update(ctx)
    assert np.array_equal(colluder, ctx.colluder_updates[0])
    first_round = AttackContext(0, 1, ctx.honest_update, [], [], ctx.current_weights)
    assert not np.any(parse_worker_attack("near_copy").craft_update(first_round))
    with pytest.raises(AttackError, match="source must be one of"):
        parse_worker_attack("near_copy:source=mine")


def test_withhold_never_reveals() -> None:
    assert parse_worker_attack("withhold").craft_update(make_context()) is None


def test_lazy_attests_one_guess_without_evaluating() -> None:
    lazy = parse_committee_attack("lazy")
    assert lazy.needs_evaluation is False
    assert lazy.attest(8100, None, set(), workers=["a", "b"]) == (8100, {"a": 8100, "b": 8100})
    assert lazy.attest(None, None, set(), workers=["a"]) == (5000, {"a": 5000})
    fixed = parse_committee_attack("lazy:score=9000")
    assert fixed.attest(7000, {"a": 1, "b": 2}, set()) == (9000, {"a": 9000, "b": 9000})
    with pytest.raises(AttackError, match="workers"):
        lazy.attest(7000, None, set())


def test_collude_scores_its_workers_high_and_the_rest_low() -> None:
    collude = parse_committee_attack("collude:group=red:high=9000:low=100")
    assert collude.needs_evaluation is True and collude.group == "red"
    baseline, scores = collude.attest(8000, {"bad": 2000, "good": 8200}, {"bad"})
    assert (baseline, scores) == (8000, {"bad": 9000, "good": 100})
    with pytest.raises(AttackError):
        collude.attest(None, None, {"bad"})


def _member(name: bytes, baseline: int, scores: dict[str, int]) -> MemberScores:
    """Return one member's attestation with no spot check failed."""
    return MemberScores(name, 1, baseline, {w.encode(): (s, False) for w, s in scores.items()})


def test_a_colluding_minority_cannot_change_the_verdicts_and_is_flagged() -> None:
    truth = {"bad": 3000, "good": 8200}
    collude = parse_committee_attack("collude")
    honest = [_member(bytes([i]), 8000, truth) for i in range(7)]
    colluders = [_member(bytes([100 + i]), *collude.attest(8000, truth, {"bad"})) for i in range(3)]
    workers = [b"bad", b"good"]
    clean = compute_verdicts(workers, honest, set(), 1500)
    attacked = compute_verdicts(workers, honest + colluders, set(), 1500)
    assert attacked == clean and clean.updates[b"bad"][0] == committee_pb2.VERDICT_FAILED_SCORE
    seats = [m.operator for m in honest + colluders]
    faults = compute_member_faults(seats, honest + colluders, attacked, StrayTolerances(500, 500))
    assert [faults[m.operator][0] for m in colluders] == [True] * 3
    assert not any(faults[m.operator][0] for m in honest)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("poison", "unknown attack 'poison'; choose one of"),
        ("sign_flip:factor=2", "sign_flip has no parameter 'factor'; its parameters are scale"),
        ("free_ride:x=1", "its parameters are none"),
        ("sign_flip:scale=big", "scale='big' is not a valid float"),
        ("sign_flip:scale=-1", "scale must be positive"),
        ("gaussian:sigma=inf", "finite"),
        ("alie:z=1:z=2", "given twice"),
        ("ipm:eps", "expected KEY=VALUE"),
        ("lazy:score=1.5", "not a valid int"),
        ("lazy:score=20000", "between 0 and 10000"),
        ("collude:low=9000:high=100", "low <= high"),
    ],
)
def test_parse_attack_says_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(AttackError, match=message.replace("(", r"\(")):
        parse_attack(spec)


def test_parse_by_kind_rejects_the_other_kind() -> None:
    with pytest.raises(AttackError, match="committee attack"):
        parse_worker_attack("lazy")
    with pytest.raises(AttackError, match="worker attack"):
        parse_committee_attack("sign_flip")
    assert get_attack_params("alie") == {"z": float, "group": str, "jitter": float}
