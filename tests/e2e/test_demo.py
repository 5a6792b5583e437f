"""`synod demo`, small (2 rounds) on a fresh 4-validator localnet: the whole story once (committee,
attacker, prediction query, explorer, verified download), then `--plain` on the user's own data.

It listens on a free 127.0.X.1-4 block, so it does not collide with a developer's localnet or with
the other e2e modules' networks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from app.node import localnet as net
from app.node.toolchain import REPO_ROOT
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
_QUERY = re.compile(r"query 1 settled in round 1 by 3 predictors: ([\d.]+)% of the settled answers match")


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _watch_explorer(proc: subprocess.Popen[str], lines: list[str], timeout: float) -> list[dict]:
    """Collect the demo's output (in a thread) until it exits; from the explorer's URL on, read its
    page's data every two seconds while the demo serves it: what a person watching would see."""
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    snapshots: list[dict] = []
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        found = _EXPLORER.search("".join(lines[:40]))
        if found:
            with contextlib.suppress(OSError):  # not serving yet, or past the demo's end
                snapshots.append(_get_json(found[1] + "api/snapshot"))
        time.sleep(2)
    reader.join(timeout=30)
    return snapshots


@pytest.mark.timeout(420)
def test_demo_shows_an_attacker_slashed_a_query_settled_and_a_verified_model(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    base_ip = net.find_free_base_ip(tmp_path, 4, salt=7)
    args = ["demo", "--rounds", "2", "--workers", "3", "--dir", str(directory), "--base-ip", base_ip]
    lines: list[str] = []
    with subprocess.Popen(
        [SYNOD, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT
    ) as proc:
        try:
            snapshots = _watch_explorer(proc, lines, timeout=390)
        finally:
            proc.kill()
    output = "".join(lines)
    assert proc.returncode == 0, output[-6000:]
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
    # The explorer served the task while it ran, the attacker's slash among its events.
    assert snapshots, f"no explorer snapshot was read: {output[:3000]}"
    seen = snapshots[-1]
    assert [t["id"] for t in seen["tasks"]] == [1], seen["tasks"]
    burned = [int(re.sub(r"\D", "", s["burned"]) or 0) for s in seen["slashes"] if s["module"] == "tasks"]
    assert burned and max(burned) > 0, seen["slashes"]
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
    args += ["--plain", "--rounds", "2", "--workers", "2", "--dir", str(directory), "--base-ip", base_ip]
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
