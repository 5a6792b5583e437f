"""The throughput benchmark's in-process profile runs (so it cannot rot): every phase, with the memos
in play (no signature verified again in a warm block) and the warm and cold blocks' app hashes equal."""

from __future__ import annotations

from bench.throughput.profile import profile


def test_the_in_process_profile_times_every_phase() -> None:
    rows, figures, hot = profile(20, repeats=1)
    assert figures["profile_txs"] == 20
    for phase in ("checktx", "finalize", "commit", "recheck", "recheck_full", "finalize_cold", "node"):
        assert figures[f"profile_{phase}_us_per_tx"] > 0, phase
    assert figures["profile_finalize_signature_us_per_tx"] == 0  # verified in CheckTx already
    assert figures["profile_finalize_cold_signature_us_per_tx"] > 0
    assert [r[0] for r in rows][:2] == ["CheckTx (NEW) x20", "  of which signature check"]
    assert len(hot) == 12
