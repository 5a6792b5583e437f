"""`python -m bench.faults --smoke` runs (so the fault campaign cannot rot): every perturbation once on a
4-validator localnet under bank load, and after each the nodes agree, no committed tx is lost and the
invariants hold. It needs root (network namespaces and tc): without them it fails, naming what is
missing, since an e2e test never skips in CI."""

from __future__ import annotations

import pytest

from bench.faults.campaign import KINDS
from bench.faults.netns import NetSetupError, check_tools
from tests.bench_smoke import run_smoke

pytestmark = pytest.mark.e2e


def _needs_root() -> None:
    """Fail, saying what is missing, unless this process can create namespaces and tc rules."""
    try:
        check_tools()
    except NetSetupError as e:
        pytest.fail(f"the fault campaign needs network namespaces and tc: {e}")


def test_the_fault_campaign_smoke_run_recovers_from_every_perturbation_without_forks_or_lost_txs() -> None:
    _needs_root()
    figures, stdout = run_smoke("bench.faults", "faults-smoke", timeout=400)
    runs = figures["perturbations"]
    assert sorted(o["kind"] for o in runs) == sorted(KINDS)
    for o in runs:
        assert o["recovered"] and o["forks"] == 0 and o["lost"] == 0 and o["invariants"] == 0, o
    [halt] = [o for o in runs if o["kind"] == "halt"]
    assert halt["halted"] is True, halt  # 2 of 4 down: no block, then it resumes
    final = figures["final"]
    assert final["final_forks"] == [] and final["final_lost"] == [] and final["final_invariants"] == []
    assert final["txs_committed"] > 0 and final["ok"] is True
    assert "Fault campaign" in stdout
