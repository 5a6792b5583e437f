"""The benchmarks that run localnets, each in its --smoke mode, so none can rot unnoticed: their
figures land in bench/results/<name>-smoke.json, never over the committed ones."""

from __future__ import annotations

import pytest

from tests.bench_smoke import run_smoke

pytestmark = pytest.mark.e2e


def test_the_light_benchmark_smoke_run_measures_every_phase() -> None:
    figures, stdout = run_smoke("bench.light", "light-smoke", timeout=900)
    blocks = figures["settings"]["blocks"]
    for mode in ("memory_sequential", "rpc_sequential"):
        assert figures[f"static_{mode}_headers_verified"] == blocks  # every header's commit checked
    # The rotating stretch's anchor and target share no validator: skipping had to bisect.
    assert figures["rotating_memory_skipping_headers_verified"] > 1
    assert figures["checkpoint_parameters"] == 199_960
    for key in ("checkpoint_verified_over_unverified_ratio", "rounds_verified_over_unverified_ratio"):
        assert figures[key] > 0, (key, figures[key])  # both sides of the comparison ran
    assert figures["page1_per_s"] > 0 and figures["page1000_per_s"] > 0
    assert "Verified reads of learning state" in stdout and "page 1,000" in stdout


def test_the_throughput_benchmark_smoke_run_loads_both_networks() -> None:
    figures, stdout = run_smoke("bench.throughput", "throughput-smoke", timeout=600)
    assert figures["committed_throughput_ratio_ours_over_kvstore"] > 0  # both networks committed the load
    assert "ours" in stdout and "kvstore" in stdout


def test_the_blocktime_benchmark_smoke_run_times_blocks_cpu_and_a_send() -> None:
    figures, stdout = run_smoke("bench.blocktime", "blocktime-smoke", timeout=300)
    [row] = figures["rows"]
    value, per_block, cpu, cpu_per_block, p50, worst = row
    assert value == "300ms" and 0.3 < per_block < 5 and cpu > 0 and cpu_per_block > 0
    assert 0 < p50 <= worst
    assert "Localnet pace by timeout_commit" in stdout
