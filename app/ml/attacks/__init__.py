"""Attack plugins: malicious workers and committee members the system is tested against.

Each attack is one file: a frozen dataclass of its parameters with pure methods (see base.py for the
interface). An attack is named by a spec string, ``NAME(:KEY=VALUE)*``, for example ``sign_flip``,
``scaled:factor=10``, ``alie:z=1.0``, ``ipm:eps=0.5``, ``gaussian:sigma=1.0``, ``targeted:target=3``,
``near_copy:noise=0.01:scale=2`` or ``collude:group=red:low=0``; committee members take ``lazy``,
``collude`` and ``copy``. parse_attack builds the attack a spec names and says clearly what is wrong
with one it cannot.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import fields
from typing import Any

from app.ml.attacks.alie import Alie, compute_alie_z
from app.ml.attacks.base import BPS, AttackContext, AttackError, CommitteeAttack, WorkerAttack
from app.ml.attacks.collude import Collude
from app.ml.attacks.copy import Copy
from app.ml.attacks.free_ride import FreeRide
from app.ml.attacks.gaussian import Gaussian
from app.ml.attacks.ipm import Ipm
from app.ml.attacks.label_flip import LabelFlip
from app.ml.attacks.lazy import Lazy
from app.ml.attacks.near_copy import NearCopy
from app.ml.attacks.scaled import Scaled
from app.ml.attacks.sign_flip import SignFlip
from app.ml.attacks.targeted import Targeted
from app.ml.attacks.withhold import Withhold

__all__ = [
    "BPS",
    "COMMITTEE_ATTACKS",
    "Copy",
    "WORKER_ATTACKS",
    "AttackContext",
    "AttackError",
    "CommitteeAttack",
    "WorkerAttack",
    "compute_alie_z",
    "get_attack_params",
    "is_committee_attack",
    "parse_attack",
    "parse_committee_attack",
    "parse_worker_attack",
]

WORKER_ATTACKS: dict[str, type] = {
    "alie": Alie,
    "free_ride": FreeRide,
    "gaussian": Gaussian,
    "ipm": Ipm,
    "label_flip": LabelFlip,
    "near_copy": NearCopy,
    "scaled": Scaled,
    "sign_flip": SignFlip,
    "targeted": Targeted,
    "withhold": Withhold,
}

COMMITTEE_ATTACKS: dict[str, type] = {
    "collude": Collude,
    "copy": Copy,
    "lazy": Lazy,
}


def _registry() -> dict[str, type]:
    """Return every attack class by name."""
    return {**WORKER_ATTACKS, **COMMITTEE_ATTACKS}


def get_attack_params(name: str) -> dict[str, type]:
    """Return the parameters an attack's spec may set, with the type each value is parsed as."""
    registry = _registry()
    if name not in registry:
        raise AttackError(f"unknown attack {name!r}; choose one of {', '.join(sorted(registry))}")
    kind = registry[name]
    hints = typing.get_type_hints(kind)
    out: dict[str, type] = {}
    for item in fields(kind):
        if item.init:
            hint = hints[item.name]
            # `float | None` parses as float: None is only the "not given" default.
            if isinstance(hint, types.UnionType):
                hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
            out[item.name] = hint
    return out


def _parse_value(name: str, key: str, value: str, kind: type) -> Any:
    """Return value parsed as kind, or raise AttackError naming the attack and parameter."""
    try:
        parsed = kind(value)
    except ValueError:
        raise AttackError(f"{name}: {key}={value!r} is not a valid {kind.__name__}") from None
    if isinstance(parsed, float) and not math.isfinite(parsed):
        raise AttackError(f"{name}: {key} must be a finite number, got {value!r}")
    return parsed


def parse_attack(spec: str) -> WorkerAttack | CommitteeAttack:
    """Return the attack that spec (``NAME(:KEY=VALUE)*``) names, with its parameters set."""
    name, *options = spec.strip().split(":")
    params = get_attack_params(name)
    values: dict[str, Any] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key or not value:
            raise AttackError(f"bad option {option!r} in attack spec {spec!r}; expected KEY=VALUE")
        if key not in params:
            known = ", ".join(sorted(params)) or "none"
            raise AttackError(f"{name} has no parameter {key!r}; its parameters are {known}")
        if key in values:
            raise AttackError(f"parameter {key!r} is given twice in attack spec {spec!r}")
        values[key] = _parse_value(name, key, value, params[key])
    attack: WorkerAttack | CommitteeAttack = _registry()[name](**values)
    return attack


def is_committee_attack(attack: object) -> bool:
    """Return whether attack is a committee member's attack (else it is a worker's)."""
    return type(attack) in COMMITTEE_ATTACKS.values()


def parse_worker_attack(spec: str) -> WorkerAttack:
    """Return the worker attack spec names; AttackError if it names a committee attack."""
    attack = parse_attack(spec)
    if is_committee_attack(attack):
        raise AttackError(f"{spec!r} is a committee attack; workers take {', '.join(sorted(WORKER_ATTACKS))}")
    return typing.cast(WorkerAttack, attack)


def parse_committee_attack(spec: str) -> CommitteeAttack:
    """Return the committee attack spec names; AttackError if it names a worker attack."""
    attack = parse_attack(spec)
    if not is_committee_attack(attack):
        raise AttackError(
            f"{spec!r} is a worker attack; committee members take {', '.join(sorted(COMMITTEE_ATTACKS))}"
        )
    return typing.cast(CommitteeAttack, attack)
