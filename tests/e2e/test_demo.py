"""`synod demo`, small (2 workers, 2 rounds) on a fresh 4-validator localnet: about a minute and a half.

It listens on a free 127.0.X.1-4 block, so it does not collide with a developer's localnet or with
the other e2e modules' networks.
"""

from __future__ import annotations

import os
import re
import subprocess
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


@pytest.mark.timeout(360)
def test_demo_trains_a_better_model_that_every_validator_agrees_on(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    base_ip = net.find_free_base_ip(tmp_path, 4, salt=7)
    args = ["demo", "--rounds", "2", "--workers", "2", "--dir", str(directory), "--base-ip", base_ip]
    proc = subprocess.run([SYNOD, *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=330)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    final = _FINAL.search(proc.stdout)
    assert final is not None, output[-3000:]
    assert float(final[1]) > float(final[2]), final[0]
    assert "all 4 validators agree on the final model" in proc.stdout
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
    args += ["--rounds", "2", "--workers", "2", "--dir", str(directory), "--base-ip", base_ip]
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
    command += ["--rounds", "2", "--workers", "2", "--dir", str(directory), "--base-ip", base_ip]
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
