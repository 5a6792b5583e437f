"""Byzantine-robust aggregation rules for the tasks module, in integer arithmetic only.

Every rule is a pure function ``rule(updates, params) -> int64 vector`` (see base.py): updates are
sorted by worker id first, so no rule depends on the order of txs in a block; every division floors
toward minus infinity; entries are bounded to the int32 range so intermediate values fit in int64
(or are summed as Python ints where they cannot). The rules run in the state machine: no floats,
no JAX, no clock, no `random`.

Every aggregate lies coordinate-wise between the smallest and the largest input (for centered
clipping with history: or the reference and momenta it carries), so updates within the int16 update
format's bound aggregate to a vector within it. tests/unit/test_aggregation_conformance.py holds the
float references and the error bound each rule meets against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

from app.modules.tasks.aggregation.base import (
    AggregationError,
    AggregationRule,
    Params,
    Update,
)
from app.modules.tasks.aggregation.centered_clipping import (
    CenteredClippingParams,
    ClippingState,
    compute_centered_clipping,
    compute_centered_clipping_step,
)
from app.modules.tasks.aggregation.krum import KrumParams, compute_krum
from app.modules.tasks.aggregation.mean import MeanParams, compute_mean
from app.modules.tasks.aggregation.median import MedianParams, compute_median
from app.modules.tasks.aggregation.trimmed_mean import TrimmedMeanParams, compute_trimmed_mean

__all__ = [
    "PARAMS",
    "RULES",
    "AggregationError",
    "AggregationRule",
    "CenteredClippingParams",
    "ClippingState",
    "KrumParams",
    "MeanParams",
    "MedianParams",
    "Params",
    "TrimmedMeanParams",
    "Update",
    "compute_centered_clipping_step",
    "compute_work",
    "get_rule",
    "make_params",
]

RULES: dict[str, AggregationRule] = {
    "centered_clipping": compute_centered_clipping,
    "krum": compute_krum,
    "mean": compute_mean,
    "median": compute_median,
    "trimmed_mean": compute_trimmed_mean,
}

PARAMS: dict[str, type] = {
    "centered_clipping": CenteredClippingParams,
    "krum": KrumParams,
    "mean": MeanParams,
    "median": MedianParams,
    "trimmed_mean": TrimmedMeanParams,
}


def get_rule(name: str) -> AggregationRule:
    """Return the rule registered under name, or raise AggregationError listing the known names."""
    if name not in RULES:
        raise AggregationError(f"unknown aggregation rule {name!r}; choose one of {', '.join(sorted(RULES))}")
    return RULES[name]


def make_params(name: str, values: Mapping[str, int]) -> Params:
    """Return the validated parameter dataclass of rule name built from integer values."""
    get_rule(name)
    kind = PARAMS[name]
    known = {item.name for item in fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise AggregationError(
            f"{name} has no parameter {', '.join(unknown)}; "
            f"its parameters are {', '.join(sorted(known)) or 'none'}"
        )
    try:
        params: Params = kind(**values)
    except TypeError as error:  # a required parameter is missing
        raise AggregationError(f"{name}: {error}") from None
    return params


def compute_work(name: str, params: Params, workers: int, size: int) -> int:
    """The work of aggregating `workers` updates of `size` entries under rule name, in entry
    operations: n * d for mean; n * d * ceil(log2 n) for the sorting rules (median, trimmed mean);
    n^2 * d / 2 for krum's pairwise distances; n * d per iteration (and once for the buckets' median)
    for centered clipping. It bounds a task at post time against tasks.max_aggregation_work."""
    entries = workers * size
    if name == "krum":
        return workers * entries // 2
    if name in ("median", "trimmed_mean"):
        return entries * max(1, (workers - 1).bit_length())
    if name == "centered_clipping":
        assert isinstance(params, CenteredClippingParams)
        return entries * (params.iterations + 1)
    return entries
