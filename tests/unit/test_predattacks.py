"""A conformance suite over every prediction attack (app/ml/predattacks), then what each one claims."""

from __future__ import annotations

import pytest

from app.ml.predattacks import (
    BPS,
    PREDICT_ATTACKS,
    Collude,
    PredictAttackError,
    PredictContext,
    RandomGuess,
    Stubborn,
    get_predict_attack_params,
    parse_predict_attack,
)

SPECS = ["stubborn", "random", "collude", "collude:group=red"]
LABELS = 10
HONEST = [(i % LABELS, 5_000 + i) for i in range(40)]


def context(
    round_: int = 0, seed: int = 3, query_seed: int = 11, honest=HONEST, tallies=None
) -> PredictContext:
    return PredictContext(round_, honest, tallies, seed, query_seed, LABELS)


def test_every_registered_attack_has_a_spec_here() -> None:
    assert {spec.split(":")[0] for spec in SPECS} == set(PREDICT_ATTACKS)


@pytest.mark.parametrize("spec", SPECS)
def test_entries_fit_the_predictions_format_and_are_reproducible(spec: str) -> None:
    attack = parse_predict_attack(spec)
    entries = attack.answer(context())
    assert len(entries) == len(HONEST)
    assert all(0 <= c < LABELS and 0 <= v <= BPS for c, v in entries)
    assert attack.answer(context()) == entries
    assert attack.revises is False


@pytest.mark.parametrize("spec", ["stubborn", "collude:group=red"])
def test_never_revises_whatever_the_network_shows(spec: str) -> None:
    attack = parse_predict_attack(spec)
    first = attack.answer(context())
    tallies = [(c, BPS) for c, _ in HONEST]
    assert attack.answer(context(round_=2, tallies=tallies)) == first


def test_stubborn_always_leaves_its_own_answer_at_full_confidence() -> None:
    entries = Stubborn().answer(context())
    assert all(c != own and v == BPS for (c, v), (own, _) in zip(entries, HONEST, strict=True))
    assert len({c - own for (c, _), (own, _) in zip(entries, HONEST, strict=True)}) > 1  # offsets vary
    assert Stubborn().answer(context(seed=4)) != entries


def test_random_draws_anew_each_round_and_spreads_over_classes() -> None:
    attack = RandomGuess()
    first, second = attack.answer(context(round_=0)), attack.answer(context(round_=1))
    assert first != second
    assert len({c for c, _ in first}) >= 5 and len({v for _, v in first}) > 30
    assert attack.answer(context(seed=9)) != first


def test_colluders_agree_with_each_other_not_with_other_groups() -> None:
    other_model = [((c + 3) % LABELS, 9_000) for c, _ in HONEST]
    member_a = Collude(group="red").answer(context(seed=1))
    member_b = Collude(group="red").answer(context(seed=2, honest=other_model, round_=1))
    assert member_a == member_b
    assert all(v == BPS for _, v in member_a)
    assert Collude(group="blue").answer(context(seed=1)) != member_a
    assert Collude(group="red").answer(context(query_seed=12)) != member_a  # a new query, new classes


def test_parse_sets_parameters_and_lists_them() -> None:
    assert parse_predict_attack(" collude:group=g7 ") == Collude(group="g7")
    assert get_predict_attack_params("collude") == {"group": str}
    assert get_predict_attack_params("stubborn") == {}


@pytest.mark.parametrize(
    "spec, match",
    [
        ("label_flip", "unknown prediction attack"),
        ("stubborn:confidence=1", "no parameter"),
        ("collude:group", "expected KEY=VALUE"),
        ("collude:group=a:group=b", "given twice"),
    ],
)
def test_parse_rejects(spec: str, match: str) -> None:
    with pytest.raises(PredictAttackError, match=match):
        parse_predict_attack(spec)


@pytest.mark.parametrize("honest, labels", [([], LABELS), ([(0, 1)], 1), ([(LABELS, 1)], LABELS)])
def test_context_rejects_what_no_attack_can_answer(honest: list[tuple[int, int]], labels: int) -> None:
    with pytest.raises(PredictAttackError):
        PredictContext(0, honest, None, 0, 0, labels)
