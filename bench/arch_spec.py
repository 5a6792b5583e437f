"""What a model spec costs a validator: parse and layout of the largest specs the limits allow.

Run from the repository root: `python -m bench.arch_spec [--smoke]`. Prints a table and writes
bench/results/arch_spec.json (--smoke: 20 calls a spec, to arch_spec-smoke.json). Each spec is
parsed uncached (the cache is cleared every call), which is what a new task's first message costs;
the results say whether the node accepted or refused it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import timeit

from app.core import architectures as arch
from bench.common import print_table, write_results

__all__ = ["main"]

CALLS = 2000
SMOKE_CALLS = 20


def _largest_conv_spec() -> str:
    """Return the longest list of conv2d layers with every key that fits MAX_ARCH_CHARS, then the output."""
    conv = {"type": "conv2d", "features": 8, "kernel": [3, 3], "stride": [1, 1], "padding": "SAME"}
    for count in range(arch.MAX_LAYERS - 2, 0, -1):
        spec = json.dumps([conv] * count + [{"type": "flatten"}, {"type": "dense"}], separators=(",", ":"))
        if len(spec) <= arch.MAX_ARCH_CHARS:
            return spec
    raise AssertionError("no conv layer fits")


def _cases() -> dict[str, tuple[str, tuple[int, ...]]]:
    """Return each spec measured and the input shape it is sized on."""
    activations = [{"type": "relu"}] * (arch.MAX_LAYERS - 1) + [{"type": "dense"}]
    return {
        "conv2d layers up to 4096 chars": (_largest_conv_spec(), (28, 28, 1)),
        f"{arch.MAX_LAYERS} layers": (json.dumps(activations, separators=(",", ":")), (64,)),
        "4096 chars of whitespace (refused)": ("[" + " " * (arch.MAX_ARCH_CHARS - 2) + "]", (64,)),
        "2048 nested lists (refused)": ("[" * 2048 + "]" * 2048, (64,)),
    }


def _measure(spec: str, shape: tuple[int, ...], calls: int) -> float:
    """Return the mean seconds of one uncached parse and layout of spec (refusals included)."""

    def once() -> None:
        # Both caches cleared: the cost of a spec the node has not seen.
        arch.parse_arch.cache_clear()
        arch._layout.cache_clear()
        with contextlib.suppress(arch.ArchitectureError):
            arch.compute_layout(spec, shape, 10)

    return timeit.timeit(once, number=calls) / calls


def _is_refused(spec: str, shape: tuple[int, ...]) -> bool:
    """Return whether the node refuses spec, so a table row says which path it timed."""
    try:
        arch.compute_layout(spec, shape, 10)
    except arch.ArchitectureError:
        return True
    return False


def _parse() -> argparse.Namespace:
    """Return the command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench.arch_spec", description=__doc__)
    p.add_argument("--smoke", action="store_true", help=f"{SMOKE_CALLS} calls a spec, for CI")
    return p.parse_args()


def main() -> None:
    """Run the benchmark, print the table and write the results file."""
    smoke = _parse().smoke
    calls = SMOKE_CALLS if smoke else CALLS
    rows, figures = [], {}
    for name, (spec, shape) in _cases().items():
        seconds = _measure(spec, shape, calls)
        rows.append([name, str(len(spec)), f"{seconds * 1e6:.0f}"])
        figures[name] = {
            "chars": len(spec),
            "microseconds": round(seconds * 1e6, 1),
            "refused": _is_refused(spec, shape),
        }
    print_table("Model spec: uncached parse + layout per call", ["spec", "chars", "us"], rows)
    # A smoke run keeps the committed figures.
    path = write_results("arch_spec-smoke" if smoke else "arch_spec", {"specs": figures, "calls": calls})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
