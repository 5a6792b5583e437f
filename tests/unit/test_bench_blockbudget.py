"""`python -m bench.blockbudget --smoke` runs: the same rounds aggregate in one block without the
budget and one a block with it (the default budget is one round at the bound), to the same models."""

from __future__ import annotations

from tests.bench_smoke import run_smoke


def test_the_block_budget_smoke_spreads_rounds_over_blocks_with_the_same_models() -> None:
    figures, stdout = run_smoke("bench.blockbudget", "blockbudget-smoke", timeout=120)
    assert figures["smoke"] is True
    unbounded, budget = figures["unbounded"], figures["budget"]
    assert [b["rounds"] for b in unbounded["blocks"]] == [3]
    assert [b["rounds"] for b in budget["blocks"]] == [1, 1, 1]  # one round at the bound a block (defaults)
    assert unbounded["models"] == budget["models"] and len(set(budget["models"])) == 3
    assert "closing at one height" in stdout
