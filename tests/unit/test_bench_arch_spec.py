"""`python -m bench.arch_spec --smoke` runs (so the model-spec benchmark cannot rot) and times each spec."""

from __future__ import annotations

from app.core.architectures import MAX_ARCH_CHARS
from tests.bench_smoke import run_smoke


def test_the_arch_spec_benchmark_smoke_run_times_the_largest_specs_and_the_refusals() -> None:
    figures, stdout = run_smoke("bench.arch_spec", "arch_spec-smoke", timeout=120)
    specs = figures["specs"]
    assert figures["calls"] == 20 and len(specs) == 4
    for name, spec in specs.items():
        assert 0 < spec["chars"] <= MAX_ARCH_CHARS and spec["microseconds"] > 0, name
        # The largest specs the limits allow must still be accepted; the hostile ones refused.
        assert spec["refused"] == name.endswith("(refused)"), name
    assert "Model spec: uncached parse + layout per call" in stdout
