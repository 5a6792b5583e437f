"""Prediction attacks: consensus-learning participants that submit something other than their model's view.

One file per behaviour, each a frozen dataclass with a pure answer(ctx) (see base.py). An attack is
named by a spec string ``NAME(:KEY=VALUE)*``: ``stubborn`` (a fixed wrong class per input at full
confidence, never revised), ``random`` (uniform class and confidence, from a seed) and
``collude:group=G`` (a group agreeing on one class per input, at full confidence, never revised).
parse_predict_attack builds the attack a spec names and says what is wrong with one it cannot.
"""

from __future__ import annotations

import typing
from dataclasses import fields
from typing import Any

from app.ml.predattacks.base import (
    BPS,
    Entries,
    PredictAttack,
    PredictAttackError,
    PredictContext,
    compute_rng,
)
from app.ml.predattacks.collude import Collude
from app.ml.predattacks.random_guess import RandomGuess
from app.ml.predattacks.stubborn import Stubborn

__all__ = [
    "BPS",
    "PREDICT_ATTACKS",
    "Collude",
    "Entries",
    "PredictAttack",
    "PredictAttackError",
    "PredictContext",
    "RandomGuess",
    "Stubborn",
    "compute_rng",
    "get_predict_attack_params",
    "parse_predict_attack",
]

PREDICT_ATTACKS: dict[str, type] = {
    "collude": Collude,
    "random": RandomGuess,
    "stubborn": Stubborn,
}


def get_predict_attack_params(name: str) -> dict[str, type]:
    """Return the parameters a prediction attack's spec may set, with the type each value is parsed as."""
    if name not in PREDICT_ATTACKS:
        raise PredictAttackError(
            f"unknown prediction attack {name!r}; choose one of {', '.join(sorted(PREDICT_ATTACKS))}"
        )
    kind = PREDICT_ATTACKS[name]
    hints = typing.get_type_hints(kind)
    return {item.name: hints[item.name] for item in fields(kind) if item.init}


def parse_predict_attack(spec: str) -> PredictAttack:
    """Return the prediction attack that spec (``NAME(:KEY=VALUE)*``) names, with its parameters set."""
    name, *options = spec.strip().split(":")
    params = get_predict_attack_params(name)
    values: dict[str, Any] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key or not value:
            raise PredictAttackError(f"bad option {option!r} in attack spec {spec!r}; expected KEY=VALUE")
        if key not in params:
            known = ", ".join(sorted(params)) or "none"
            raise PredictAttackError(f"{name} has no parameter {key!r}; its parameters are {known}")
        if key in values:
            raise PredictAttackError(f"parameter {key!r} is given twice in attack spec {spec!r}")
        values[key] = params[key](value)
    attack: PredictAttack = PREDICT_ATTACKS[name](**values)
    return attack
