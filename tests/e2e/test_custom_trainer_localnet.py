"""Bring-your-own training code on a real four-validator localnet: a Flower NumPyClient and a custom
JAX fit function take part in a task beside a worker on Synod's own loop, and every round aggregates
all three updates. Then each example runs with its one documented command (`synod demo --trainer`).

Worker 0 is `synod worker run --data`; worker 1 is `synod worker run --trainer
examples.custom_trainer.trainer:fit`; worker 2 is the Python API, run_worker, given the example's
Flower client as an object (flwr 1.42.0, unchanged). They run from the repository root, where the
examples are found, as the examples' READMEs say.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.client.keyring import Keyring
from app.client.sender import TxSender
from app.client.tasks import TasksClient
from app.client.txbuilder import msg_send
from app.core.coins import Coins
from app.node import localnet as net
from app.node.toolchain import REPO_ROOT, find_binary
from synod.tasks.v1 import tasks_pb2
from tests.e2e.localnet_helpers import Agents, Localnet, checkpoint_accuracy, running_localnet
from tests.e2e.nodes import SYNOD

pytestmark = pytest.mark.e2e

VALIDATORS, WORKERS = 4, 3
ROUNDS, JOIN_BLOCKS, COMMIT_BLOCKS, REVEAL_BLOCKS = 2, 45, 14, 12
FIT = "examples.custom_trainer.trainer:fit"
FLOWER = "examples.flower_client.client:DigitsClient"
# Worker 2: the Python API with the Flower client as an object, its summary as JSON on stdout.
_API_WORKER = """
import json, sys
from app.agents.worker import run_worker
from examples.flower_client.client import DigitsClient
node, home, task, data = sys.argv[1:]
summary = run_worker(node, "w2", int(task), home=home, data=data, trainer=DigitsClient())
print(json.dumps(summary.to_dict()))
"""


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory):
    """Four validators on a free 127.0.X.1-4 block for this module, stopped at its end."""
    directory = tmp_path_factory.mktemp("trainer-localnet") / "run"
    with running_localnet(directory, VALIDATORS, salt=89) as localnet:
        localnet.wait_all(2)
        yield localnet


def _post_task(localnet: Localnet) -> int:
    """A digits logreg task for three workers through node0; returns its id."""
    flags = {
        "--dataset": "digits", "--arch": "logreg", "--rounds": ROUNDS, "--join-blocks": JOIN_BLOCKS,
        "--commit-blocks": COMMIT_BLOCKS, "--reveal-blocks": REVEAL_BLOCKS, "--min-workers": WORKERS,
        "--max-workers": WORKERS, "--stake": "1000usyn", "--reward": "9000000usyn", "--rule": "mean",
    }  # fmt: skip
    args = [str(part) for pair in flags.items() for part in pair]
    return int(localnet.tx("task", "post", "--from", "validator", *args, via=0)["task_id"])


def _argv(localnet: Localnet, i: int, home: Path, task_id: int) -> list[str]:
    """Worker i's command: Synod's loop, the custom fit function, or run_worker with the Flower client."""
    data = f"digits:shard={i}/{WORKERS}:dirichlet=0.5:seed=7"
    node = net.rpc_address(localnet.spec, i % VALIDATORS).replace("tcp://", "http://", 1)
    if i == 2:
        return [sys.executable, "-c", _API_WORKER, node, str(home), str(task_id), data]
    trainer = ["--trainer", FIT] if i == 1 else []
    return [
        find_binary("synod"), "worker", "run", "--task", str(task_id), "--key", f"w{i}", "--data", data,
        *trainer, "--home", str(home), "--node", node, "--quiet", "-o", "json", "--no-verify",
    ]  # fmt: skip


def test_a_flower_client_and_a_fit_function_take_part_beside_a_normal_worker(
    network: Localnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO_ROOT)  # the workers import the examples from their working directory
    started = time.monotonic()
    task_id = _post_task(network)
    home = tmp_path / "workers"
    addresses = [Keyring(home).add(f"w{i}")[0].address for i in range(WORKERS)]
    key = Keyring(network.home(0)).private_key("validator")
    funds = [msg_send(key.address, a, Coins.of([("usyn", 10**8)])) for a in addresses]
    TxSender(network.rpc[0], key).send(funds, timeout=60)
    agents = Agents(tmp_path)
    try:
        for i in range(WORKERS):
            agents.start(f"w{i}", _argv(network, i, home, task_id))
        summaries = [agents.finish(f"w{i}", timeout=300) for i in range(WORKERS)]
    finally:
        agents.stop_all()
    client = TasksClient(network.rpc[0])
    records = client.rounds(task_id)[1:]
    assert [(r.outcome, r.revealed) for r in records] == [(tasks_pb2.ROUND_OUTCOME_AGGREGATED, 3)] * ROUNDS
    for record in records:
        assert sorted(record.accepted_workers) == sorted(addresses), record
    assert [s["accepted_updates"] for s in summaries] == [ROUNDS] * WORKERS
    assert "trainer examples.custom_trainer.trainer:fit" in agents.log("w1")
    task = client.task(task_id).task
    initial, final = checkpoint_accuracy(client, task, 0), checkpoint_accuracy(client, task, ROUNDS)
    assert final > max(initial + 0.3, 0.6), (initial, final)
    print(f"accuracy {initial:.1%} -> {final:.1%}; {time.monotonic() - started:.0f} s")


_FINAL = re.compile(r"final test accuracy ([\d.]+)% after 2 rounds \(initial model ([\d.]+)%")


@pytest.mark.timeout(420)
@pytest.mark.parametrize("trainer", [FIT, FLOWER], ids=["custom_trainer", "flower_client"])
def test_each_example_runs_with_its_documented_command(trainer: str, tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    base_ip = net.find_free_base_ip(tmp_path, 4, salt=73)
    # --plain: honest workers only (by default the demo's last worker attacks and is excluded).
    args = ["demo", "--plain", "--no-explorer", "--workers", "3", "--rounds", "2"]
    args += ["--trainer", trainer, "--trainer-workers", "2"]
    command = [SYNOD, *args, "--dir", str(directory), "--base-ip", base_ip]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=400)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    final = _FINAL.search(proc.stdout)
    assert final is not None and float(final[1]) > float(final[2]), output[-3000:]
    assert "all 4 validators agree on the final model" in proc.stdout
    for i in (0, 1):  # the workers with the example's trainer
        log = (directory / "logs" / f"worker{i}.log").read_text()
        assert f"trainer {trainer}" in log, log[-2000:]
        assert "round 2 closed: aggregated, 3 accepted of 3 revealed (ours accepted)" in log, log[-2000:]
