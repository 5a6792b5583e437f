"""`python -m bench.smt --smoke` runs (so the sparse Merkle tree benchmark cannot rot) and fills its table."""

from __future__ import annotations

from tests.bench_smoke import run_smoke


def test_the_smt_benchmark_smoke_run_inserts_proves_and_verifies_every_key() -> None:
    figures, stdout = run_smoke("bench.smt", "smt-smoke", timeout=120)
    assert figures["keys"] == 2_000 and figures["batch_size"] == 100
    for key in ("keys_per_s_insert", "proofs_per_s", "verifications_per_s"):
        assert figures[key] > 0, key
    # 2,000 leaves need a path of at least 11 bits somewhere; a proof never exceeds the 256-bit key.
    assert 11 <= figures["max_proof_depth"] <= 256
    assert figures["nodes_stored"] > figures["keys"] and figures["mean_proof_bytes"] > 0
    assert "sparse Merkle tree, 2000 keys" in stdout
