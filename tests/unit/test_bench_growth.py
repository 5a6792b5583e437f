"""`python -m bench.growth --smoke` runs (so the growth benchmark cannot rot) and fills every cell."""

from __future__ import annotations

from bench.growth.sizing import compute_round_size, is_refused
from tests.bench_smoke import run_smoke


def test_the_growth_benchmark_smoke_run_measures_every_cell_of_every_rule() -> None:
    figures, stdout = run_smoke("bench.growth", "growth-smoke", timeout=120)
    assert figures["settings"]["smoke"] is True
    cells = figures["cells"]
    grid = {(c["rule"], c["size"], c["workers"]) for c in cells}
    assert grid == {(r, d, n) for r in ("mean", "median", "krum") for d in (1_000, 10_000) for n in (4, 16)}
    for c in cells:
        assert c["status"] == "measured" and c["end_block_s"] > 0, c  # the smoke grid is within every bound
        assert 0 < c["rule_s"] <= c["end_block_s"] <= c["first_s"], c
        assert c["round_bytes"] == c["workers"] * 2 * c["size"] + c["workers"] * 4 * c["size"], c
        assert c["state_bytes"] == 4 * c["size"] and c["parts_per_update"] == 0, c
        assert c["txs"] == 2 * c["workers"] and c["model_s"] >= c["end_block_s"], c
    assert len(figures["growth_table"]["rows"]) == 12 and len(figures["anchors_table"]["rows"]) == 2
    assert any(
        row[0].startswith("max_aggregation_work (krum)") for row in figures["design_limits_table"]["rows"]
    )
    assert "MODEL round s" in stdout and figures["headline"].startswith("headline: the slowest close")


def test_a_cell_is_refused_exactly_where_its_work_exceeds_the_chains_bound() -> None:
    # At 2^27: krum's n^2 d / 2 passes it at 16 x 2M, median's n d ceil(log2 n) at 64 x 1M, the
    # mean's n d at 128 x 2M; each is accepted one step below.
    assert is_refused("krum", 16, 2_000_000) == (True, 16 * 16 * 2_000_000 // 2)
    assert is_refused("krum", 16, 1_000_000)[0] is False
    assert is_refused("median", 64, 1_000_000) == (True, 64 * 1_000_000 * 6)
    assert is_refused("median", 16, 2_000_000)[0] is False
    assert is_refused("mean", 128, 2_000_000) == (True, 128 * 2_000_000)
    assert is_refused("mean", 128, 1_000_000)[0] is False


def test_a_round_of_the_largest_model_is_cut_into_parts_that_fit_a_transaction() -> None:
    size = compute_round_size(16, 2_100_010)
    assert size.parts_per_update == 8  # 4,200,020 bytes: 8 parts of 512 KiB and a closing reveal of the rest
    assert size.txs == 16 * 10 and size.reveal_blocks == 4 and size.kept_checkpoints == 31
