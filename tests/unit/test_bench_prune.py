"""`python -m bench.prune --smoke` runs (so the pruning benchmark cannot rot) and shows pruning work."""

from __future__ import annotations

from tests.bench_smoke import run_smoke


def test_the_prune_benchmark_smoke_run_keeps_the_node_count_flat_and_the_app_hashes_equal() -> None:
    figures, stdout = run_smoke("bench.prune", "prune-smoke", timeout=600)
    assert figures["settings"]["smoke"] is True
    off, on = figures["off"], figures["on"]
    assert [r["height"] for r in off] == [r["height"] for r in on] == [100, 200, 300]
    assert [r["app_hash"] for r in off] == [r["app_hash"] for r in on]
    assert off[-1]["nodes"] > 2 * on[-1]["nodes"]  # no pruning keeps every version's nodes
    assert all(r["roots"] == 100 for r in on) and off[-1]["roots"] == 300
    # With pruning, growth from 200 to 300 is a small fraction of the unpruned growth.
    assert on[-1]["nodes"] - on[-2]["nodes"] < (off[-1]["nodes"] - off[-2]["nodes"]) // 10
    assert len(figures["table"]["rows"]) == 3 and "headline: after 300 blocks" in stdout
