"""`python -m bench.beacon --smoke` runs (so the beacon benchmark cannot rot) and fills all six tables."""

from __future__ import annotations

import pytest

from bench.beacon.grinding import GRIND_BITS
from tests.bench_smoke import run_smoke


def test_the_beacon_benchmark_smoke_run_measures_bls_the_beacon_check_and_the_grinding_bias() -> None:
    figures, stdout = run_smoke("bench.beacon", "beacon-smoke", timeout=120)
    assert figures["settings"]["smoke"] is True
    assert figures["chia_rs_sign_per_s"] > 0 and figures["chia_rs_verify_per_s"] > 0
    assert figures["beacon_check_100_members_cold_s"] > 0 and figures["beacon_check_100_members_cached_s"] > 0
    sizes = [figures[f"adv{pct}pct_committee_size"] for pct in (20, 25, 30)]
    assert sizes == sorted(sizes) and sizes[0] > 0  # a larger adversary needs a larger committee
    for pct in (20, 25, 30):
        # More seeds tried, more captures; with none tried (k = 0) grinding gains nothing.
        capture = [figures[f"adv{pct}pct_capture_when_proposing_k{k}"] for k in GRIND_BITS]
        assert all(0 <= p <= 1 for p in capture) and capture == sorted(capture), pct
        assert figures[f"adv{pct}pct_grinding_gain_ratio_k0"] == pytest.approx(1.0), pct
    for k in range(5):
        assert 0 <= figures[f"simulated_capture_k{k}"] <= 1, k
    assert len(figures["model_check_table"]["rows"]) == 5 and "headline: chia_rs verifies" in stdout
    for pct in (10, 20, 30):
        # The threshold beacon: one seed per epoch whichever shares the coalition includes.
        assert figures[f"threshold_adv{pct}pct_distinct_seeds"] == 1.0, pct
        assert figures[f"threshold_adv{pct}pct_seats_gained_when_proposing"] == 0.0, pct
        assert figures[f"threshold_adv{pct}pct_target_met"] is True, pct
        assert figures[f"old_adv{pct}pct_distinct_seeds"] > 1.0, pct  # the old rule, same subsets
    assert figures["dkg_4_members_combine_s"] > 0 and figures["dkg_4_members_verify_group_s"] > 0
