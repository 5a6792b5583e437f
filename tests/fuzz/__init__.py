"""Coverage-guided fuzz targets (atheris), one file per target: fuzz_<target>.py.

Each exposes `test_one_input(data: bytes)`, which atheris drives (tests/fuzz/worker.py) and which
tests/unit/test_fuzz_smoke.py replays over the committed seeds in tests/fuzz/corpus/<target>/.
The harnesses live under tests/ because they are tests: they import the integration harness's chain
and keys and assert invariants; only their summary table is a benchmark result.
"""
