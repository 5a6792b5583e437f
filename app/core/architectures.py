"""The model architecture registry's pure part: names, layer widths and parameter counts.

An architecture name is ``logreg`` (multinomial logistic regression) or ``mlp:H1-H2-...`` (dense
layers of the given widths with ReLU, then a linear output layer), e.g. ``mlp:64-32``. The chain
validates a task's architecture and sizes its weight vectors with these functions; the JAX
definitions live off-chain in app/ml/models.py and follow the same widths.
"""

from __future__ import annotations

import re

__all__ = [
    "ARCHITECTURES",
    "ArchitectureError",
    "hidden_widths",
    "infer_n_classes",
    "layer_sizes",
    "param_count",
]

_WIDTHS = re.compile(r"[1-9]\d{0,4}(?:-[1-9]\d{0,4})*")


class ArchitectureError(ValueError):
    """Raised for an unknown architecture name or sizes that do not fit it."""


def _logreg_widths(options: str | None) -> tuple[int, ...] | None:
    """Return no hidden layers for plain ``logreg``, None for anything else."""
    return () if options is None else None


def _mlp_widths(options: str | None) -> tuple[int, ...] | None:
    """Return the hidden widths of ``mlp:H1-H2-...``, None if they are malformed."""
    if options is None or not _WIDTHS.fullmatch(options):
        return None
    return tuple(int(width) for width in options.split("-"))


# Family name -> parser of the text after "family:" into hidden widths (None when malformed).
ARCHITECTURES = {"logreg": _logreg_widths, "mlp": _mlp_widths}


def hidden_widths(arch: str) -> tuple[int, ...]:
    """Return the hidden layer widths that arch names."""
    family, sep, options = arch.partition(":")
    parse = ARCHITECTURES.get(family)
    widths = parse(options if sep else None) if parse else None
    if widths is None:
        raise ArchitectureError(
            f"unknown architecture {arch!r}; use 'logreg' or 'mlp:H1-H2-...' like 'mlp:64-32'"
        )
    return widths


def layer_sizes(arch: str, n_features: int, n_classes: int) -> tuple[int, ...]:
    """Return the widths from input to output, e.g. (64, 32, 10) for mlp:32 on digits."""
    if n_features < 1 or n_classes < 2:
        raise ArchitectureError(f"need n_features >= 1 and n_classes >= 2, got {n_features} and {n_classes}")
    return (n_features, *hidden_widths(arch), n_classes)


def param_count(arch: str, n_features: int, n_classes: int) -> int:
    """Return the length of the flat parameter vector."""
    sizes = layer_sizes(arch, n_features, n_classes)
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes, sizes[1:], strict=False))


def infer_n_classes(arch: str, n_features: int, size: int) -> int:
    """Return the class count for which arch on n_features inputs has size parameters."""
    hidden = (n_features, *hidden_widths(arch))
    # Every layer but the last is fixed; the last has (fan_in + 1) * n_classes parameters.
    fixed = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(hidden, hidden[1:], strict=False))
    n_classes, rest = divmod(size - fixed, hidden[-1] + 1)
    if rest or n_classes < 2:
        raise ArchitectureError(f"{size} parameters do not fit {arch!r} on {n_features} features")
    return n_classes
