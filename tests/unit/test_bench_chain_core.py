"""`python -m bench.chain_core --smoke` runs (so the chain-core benchmark cannot rot): our app in-process,
our app over the ABCI socket and CometBFT's kvstore (abci-cli) each take every block and CheckTx."""

from __future__ import annotations

from tests.bench_smoke import run_smoke


def test_the_chain_core_benchmark_smoke_run_drives_all_three_set_ups() -> None:
    figures, stdout = run_smoke("bench.chain_core", "chain_core-smoke", timeout=120)
    assert figures["smoke"] is True and figures["block_sizes"] == [0, 10]
    for n in figures["block_sizes"]:
        for key in ("inprocess_finalize_ms", "inprocess_commit_ms", "socket_finalize_commit_ms"):
            assert figures[f"{key}_{n}"] >= 0, (key, n)
        assert figures[f"kvstore_finalize_commit_ms_{n}"] >= 0, n
        assert figures[f"finalize_commit_ratio_ours_over_kvstore_{n}"] > 0, n
    for setup in ("inprocess", "socket", "kvstore"):
        assert figures[f"{setup}_checktx_per_s"] > 0, setup
    assert [row[0] for row in figures["table"]] == [
        "FinalizeBlock+Commit, 0 txs (ms)",
        "FinalizeBlock+Commit, 10 txs (ms)",
        "CheckTx (tx/s)",
    ]
    assert "Synod chain core vs CometBFT kvstore" in stdout
