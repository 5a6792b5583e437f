"""The fuzz targets (tests/fuzz): every committed seed and regression input replays cleanly, and the
`--smoke` campaign runs each target under atheris for a few hundred executions without a crash."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.bench_smoke import run_smoke
from tests.fuzz.runner import CORPUS_DIR, SMOKE_RUNS, TARGETS


def _inputs() -> list[tuple[str, Path]]:
    """(target, input file) for every committed corpus file."""
    return [(t, p) for t in TARGETS for p in sorted((CORPUS_DIR / t).iterdir()) if p.is_file()]


def test_every_target_has_a_corpus_and_a_harness() -> None:
    for target in TARGETS:
        assert any((CORPUS_DIR / target).iterdir()), f"tests/fuzz/corpus/{target} is empty"
        assert callable(importlib.import_module(f"tests.fuzz.fuzz_{target}").test_one_input)


@pytest.mark.parametrize(("target", "path"), _inputs(), ids=lambda v: getattr(v, "name", v))
def test_corpus_input_replays_without_a_crash(target: str, path: Path) -> None:
    importlib.import_module(f"tests.fuzz.fuzz_{target}").test_one_input(path.read_bytes())


def test_smoke_campaign_runs_every_target_without_a_crash() -> None:
    figures, out = run_smoke("tests.fuzz", "fuzz-smoke", timeout=300)
    rows = {r["target"]: r for r in figures["targets"]}
    assert sorted(rows) == sorted(TARGETS), out
    assert figures["total_crashes"] == 0, out
    assert all(r["executions"] == SMOKE_RUNS for r in rows.values()), out
