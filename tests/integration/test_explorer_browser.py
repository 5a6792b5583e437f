"""The explorer's page in a real browser (Debian's chromium, driven by Playwright; scripts/setup.sh
installs both and builds the page): over an in-process chain that advances while the page is open,
the page shows the task, fills in its round table live without a reload, shows the slashed
attacker and the slashing events, and draws the accuracy and loss chart. Never skipped: a missing chromium,
Playwright or page bundle fails the test.

The screenshots are written to tests/artifacts/ (git-ignored): explorer-page.png and
explorer-chart.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from app.explorer.server import ExplorerServer
from tests.browser import ARTIFACTS, chromium_page, pixel_spread
from tests.integration.explorer_harness import committee_chain, committee_story, explorer_over, stub_evaluate
from tests.integration.harness import test_key

WAIT_MS = 15_000


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    """A headless chromium page with a fresh profile."""
    with chromium_page(tmp_path / "profile") as page:
        yield page


def test_the_page_follows_the_task_live_and_shows_the_attacker_slashed(page: Page) -> None:
    tc, node = committee_chain()
    server = ExplorerServer(explorer_over(node, follow=True, evaluate=stub_evaluate))
    port = server.start("127.0.0.1", 0)
    story = committee_story(tc)
    try:
        assert next(story) == "posted"
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#task-1", timeout=WAIT_MS)
        assert "digits <b>committee</b> demo" in page.inner_text("#task-1 h3")  # escaped, not markup
        page.evaluate("window.notReloaded = true")
        assert page.locator('#task-1 tr[data-round="1"]').count() in (0, 1)
        assert next(story) == "round 1"
        page.wait_for_selector('#task-1 tr[data-round="1"] >> text=aggregated', timeout=WAIT_MS)
        assert next(story) == "round 2"
        page.wait_for_selector('#task-1 tr[data-round="2"] >> text=aggregated', timeout=WAIT_MS)
        assert page.evaluate("window.notReloaded") is True  # updated by server-sent events
        dave = test_key("dave").address
        attacker = page.locator(f'#task-1 tr[data-worker="{dave}"] td[data-slashed="yes"]')
        assert attacker.count() == 1 and int(attacker.inner_text()) > 0
        assert "rejected_update" in page.inner_text("#slashes")
        assert "attestation_faults" in page.inner_text("#slashes")
        # Rounds 0-2: the committee's scores (rounds 1, 2) and the local evaluation (stubbed here).
        page.wait_for_selector('#chart-1[data-evaluated="3"] canvas', timeout=WAIT_MS)
        assert page.get_attribute("#chart-1", "data-points") == "3"
        ARTIFACTS.mkdir(exist_ok=True)
        chart, whole = ARTIFACTS / "explorer-chart.png", ARTIFACTS / "explorer-page.png"
        page.locator("#chart-1").screenshot(path=str(chart))
        page.screenshot(path=str(whole), full_page=True)
    finally:
        server.stop()
    assert pixel_spread(chart) > 10, f"the chart in {chart} looks blank"
