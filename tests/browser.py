"""A real browser for the explorer's tests: Debian's chromium (scripts/setup.sh installs it) driven by
Playwright, with a fresh profile and no background traffic. Never skipped: a missing chromium
fails the test that asks for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, sync_playwright

__all__ = ["ARTIFACTS", "chromium_page", "pixel_spread"]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # screenshots (git-ignored)
# As the machine notes say: no background traffic (the network is closed), a fresh profile.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium_page(profile: Path) -> Iterator[Page]:
    """A headless chromium page with a fresh profile in the directory profile."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/setup.sh (it installs chromium)"
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 1600},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def pixel_spread(path: Path) -> float:
    """Standard deviation of the grey levels of an image (0 for a blank one)."""
    with Image.open(path) as image:
        return float(np.asarray(image.convert("L"), dtype=np.float64).std())
