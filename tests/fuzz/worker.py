"""One atheris run of one target: `python -m tests.fuzz.worker TARGET CORPUS_DIR [libFuzzer flags]`.

atheris.Fuzz() exits the process when the run ends, so the campaign (tests/fuzz/runner.py) starts
one of these per target. The app's modules (`app.*`) are imported under atheris.instrument_imports,
so libFuzzer sees their branch coverage; the harness, protobuf and the libraries are not instrumented.
"""

from __future__ import annotations

import importlib
import logging
import sys

import atheris


def main() -> None:
    """Import the target with the app instrumented, then hand over to libFuzzer."""
    target, *flags = sys.argv[1:]
    # The app logs every rejected input (warnings) and every caught handler error; at fuzzing speed
    # that is noise, and the invariants in each target already turn a real failure into a crash.
    logging.disable(logging.CRITICAL)
    with atheris.instrument_imports(include=["app"]):
        module = importlib.import_module(f"tests.fuzz.fuzz_{target}")
    module.test_one_input(b"")  # build the shared chain before libFuzzer starts counting
    atheris.Setup([sys.argv[0], *flags], module.test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
