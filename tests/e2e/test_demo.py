"""`synod demo`, small (2 rounds) on a fresh 4-validator localnet: the whole story once (committee,
attacker, prediction query, explorer, verified download), then `--plain` on the user's own data.

It listens on a free 127.0.X.1-4 block, so it does not collide with a developer's localnet or with
the other e2e modules' networks.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page

from app.node import localnet as net
from app.node.toolchain import REPO_ROOT
from tests.browser import ARTIFACTS, chromium_page, pixel_spread
from tests.e2e.nodes import SYNOD

pytestmark = pytest.mark.e2e

_FINAL = re.compile(r"final test accuracy ([\d.]+)% after 2 rounds \(initial model ([\d.]+)%")


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention text (the demo's directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if entry.name.isdigit() and text in cmdline:
            found.append(cmdline)
    return found


_EXPLORER = re.compile(r"explorer on (http://\S+/)")
_ATTACKER = re.compile(r"the attacker was excluded from rounds ([\d, ]+) and slashed (\d+)usyn")
_WAIT_MS = 150_000  # a round on a busy 2-core machine, beside eleven agents
_QUERY = re.compile(r"query 1 settled in round 1 by 3 predictors: ([\d.]+)% of the settled answers match")


def _wait_for_url(proc: subprocess.Popen[str], lines: list[str], timeout: float) -> str:
    """The explorer URL the demo prints first (its output collected in lines by a thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _EXPLORER.search("".join(lines[:60]))
        if found:
            return found[1]
        assert proc.poll() is None, "".join(lines)[-4000:]
        time.sleep(0.5)
    raise AssertionError(f"no explorer URL within {timeout:.0f}s: {''.join(lines)[-3000:]}")


def _watch_in_browser(page: Page, url: str) -> Path:
    """What a person who opens the printed URL sees, while the demo runs: the task, its round table
    filling in live without a reload, the slashed attacker, the settled query and the chart (its
    screenshot returned)."""
    page.goto(url)
    page.wait_for_selector("#task-1", timeout=_WAIT_MS)
    page.evaluate("window.notReloaded = true")
    for round_ in (1, 2):
        page.wait_for_selector(f'#task-1 tr[data-round="{round_}"] >> text=aggregated', timeout=_WAIT_MS)
    assert page.evaluate("window.notReloaded") is True  # updated by server-sent events
    slashed = page.locator('#task-1 td[data-slashed="yes"]')
    assert slashed.count() == 1 and int(slashed.inner_text()) > 0  # the attacker, and no one else
    assert "rejected_update" in page.inner_text("#slashes")
    page.wait_for_selector("#chart-1 canvas", timeout=_WAIT_MS)  # drawn; the local evaluation may lag
    page.wait_for_selector("#query-1 .accuracy", timeout=_WAIT_MS)  # settled, labels revealed
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "explorer-demo.png"
    page.screenshot(path=str(shot), full_page=True)
    page.locator("#chart-1").screenshot(path=str(ARTIFACTS / "explorer-demo-chart.png"))
    return shot


@pytest.mark.timeout(420)
def test_demo_shows_an_attacker_slashed_a_query_settled_and_a_verified_model(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    base_ip = net.find_free_base_ip(tmp_path, 4, salt=7)
    args = ["demo", "--rounds", "2", "--workers", "3", "--dir", str(directory), "--base-ip", base_ip]
    lines: list[str] = []
    with (
        chromium_page(tmp_path / "profile") as page,
        subprocess.Popen(
            [SYNOD, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT
        ) as proc,
    ):
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
        reader.start()
        try:
            shot = _watch_in_browser(page, _wait_for_url(proc, lines, timeout=120))
            proc.wait(timeout=300)
        finally:
            proc.kill()
            reader.join(timeout=30)
    output = "".join(lines)
    assert proc.returncode == 0, output[-6000:]
    assert pixel_spread(shot) > 10, f"{shot} looks blank"
    final = _FINAL.search(output)
    assert final is not None, output[-3000:]
    assert float(final[1]) > float(final[2]) + 30, final[0]  # the attacker did not stop it learning
    assert "all 4 validators agree on the final model" in output
    # The attacker (the last worker, sign_flip:scale=2) was excluded from both rounds and slashed.
    attacker = _ATTACKER.search(output)
    assert attacker is not None and attacker[1] == "1, 2" and int(attacker[2]) > 0, output[-4000:]
    # The prediction query settled on answers that mostly match the labels committed at posting.
    settled = _QUERY.search(output)
    assert settled is not None and float(settled[1]) >= 70, output[-4000:]
    # The final model came down with a proof, into a file whose weights match the on-chain hash.
    assert "--verify --home" in output and "verified at height" in output, output[-3000:]
    assert (directory / "final-model.npz").stat().st_size > 0
    assert (directory / "synod-demo.png").read_bytes().startswith(b"\x89PNG")
    assert not net.running_nodes(directory / "localnet")
    assert _processes_mentioning(str(directory)) == []


_OWN_FINAL = re.compile(
    r"final test accuracy ([\d.]+)% after 2 rounds \(initial model ([\d.]+)%, centralized reference ([\d.]+)%"
)


_WINE = REPO_ROOT / "examples" / "tabular_csv" / "wine.csv"


@pytest.mark.timeout(360)
def test_demo_learns_the_users_own_csv_and_refuses_a_malformed_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("alcohol,cultivar\n13.2,a\nnot-a-number,b\n")
    refused = subprocess.run(
        [SYNOD, "demo", "--data", str(bad), "--label", "cultivar", "--dir", str(tmp_path / "bad")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert refused.returncode == 1 and "column 'alcohol' is string, not a number" in refused.stderr, refused
    assert "Traceback" not in refused.stderr and not (tmp_path / "bad" / "localnet").exists()

    directory = tmp_path / "demo"
    base_ip = net.find_free_base_ip(tmp_path, 4, salt=11)
    args = ["demo", "--data", str(_WINE), "--label", "cultivar"]  # examples/tabular_csv/README.md
    # --plain: FedAvg alone (the committee, attacker and query run in the test above).
    args += ["--plain", "--no-explorer", "--rounds", "2", "--workers", "2", "--dir", str(directory)]
    args += ["--base-ip", base_ip]
    proc = subprocess.run([SYNOD, *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=330)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert "178 rows of 13 features, classes cultivar_1, cultivar_2, cultivar_3" in proc.stdout, output[
        -3000:
    ]
    final = _OWN_FINAL.search(proc.stdout)
    assert final is not None, output[-3000:]
    assert float(final[1]) > float(final[2]) + 20, final[0]
    assert "all 4 validators agree on the final model" in proc.stdout
    blobs = list((directory / "blobs").iterdir())
    assert len(blobs) == 1 and len(blobs[0].name) == 64  # the evaluation rows, published under their hash
    assert not net.running_nodes(directory / "localnet")


@pytest.mark.timeout(420)
def test_the_image_example_trains_a_cnn_on_a_folder_of_pngs(tmp_path: Path) -> None:
    folder, directory = tmp_path / "shifted-digits", tmp_path / "demo"
    base_ip = net.find_free_base_ip(tmp_path, 4, salt=13)
    command = ["bash", "examples/image_cnn/run.sh"]  # examples/image_cnn/README.md
    command += ["--plain", "--no-explorer", "--rounds", "2", "--workers", "2"]
    command += ["--dir", str(directory), "--base-ip", base_ip]
    env = {**os.environ, "SYNOD_IMAGE_FOLDER": str(folder)}
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=400)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert len(list(folder.glob("*/*.png"))) == 1797 and sorted(p.name for p in folder.iterdir()) == [
        str(d) for d in range(10)
    ]
    assert "1797 12x12 images of 144 features, classes 0, 1, 2" in proc.stdout, output[-3000:]
    assert "conv16-maxpool-conv32-maxpool-dense64-dense" in proc.stdout, output[-3000:]
    final = _OWN_FINAL.search(proc.stdout)
    assert final is not None, output[-3000:]
    assert float(final[1]) > float(final[2]) + 15, final[0]  # about 12% -> 60% in process
    assert "all 4 validators agree on the final model" in proc.stdout
    assert not net.running_nodes(directory / "localnet")
