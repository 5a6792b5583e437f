"""A worker that follows blocks by subscription survives its node's kill -9 and restart.

One validator (`synod start`, timeout_commit 200 ms) and one `synod worker run --quiet` on a
five-round digits task. Once round 1 has closed, the node is SIGKILLed (CometBFT dies with its
supervisor) while the worker runs on: its websocket subscription drops, it falls back to polling
/status (and its queries retry), and when the same node is started again it resubscribes and the
task finishes all its rounds with the worker's update accepted in each. No block is made while the
only validator is down, so no phase can pass the worker by.

Timing: the join phase (40 blocks, ~12-20 s) covers the worker's start (JAX import, join, compiling
its training step); a round then closes early in a few blocks. The phases are long (60 blocks)
only so that a worker still backing off from the outage (up to ~8 s) cannot miss one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from app.client.tasks import TasksClient
from tests.e2e.localnet_helpers import wait_until
from tests.e2e.nodes import SYNOD, SynodNode

pytestmark = pytest.mark.e2e

ROUNDS, JOIN_BLOCKS, PHASE_BLOCKS = 5, 40, 60
# The follower's notices (app/client/follow.py), each a part of one log line.
FOLLOWING = ("following new blocks by subscription at ws://",)
DROPPED = ("block subscription at ws://", " dropped (")
RESUBSCRIBED = ("resubscribed to new blocks at ws://",)


@pytest.fixture
def node(tmp_path: Path):
    n = SynodNode(tmp_path / "node")
    n.start()
    yield n
    n.stop()


def _post_task(node: SynodNode) -> int:
    """A five-round digits logreg task for one worker, posted by the validator; returns its id."""
    flags = {
        "--dataset": "digits", "--arch": "logreg", "--rounds": ROUNDS, "--join-blocks": JOIN_BLOCKS,
        "--commit-blocks": PHASE_BLOCKS, "--reveal-blocks": PHASE_BLOCKS, "--min-workers": 1,
        "--max-workers": 1, "--stake": "1000usyn", "--reward": "9000000usyn", "--rule": "mean",
    }  # fmt: skip
    args = [str(part) for pair in flags.items() for part in pair]
    posted = node.cli("tx", "task", "post", "--from", "validator", *args, "--yes", "--output", "json")
    result = json.loads(posted.stdout)
    assert result["code"] == 0, result
    return int(result["task_id"])


def _start_worker(node: SynodNode, task_id: int, log: Path, out: Path) -> subprocess.Popen:
    """`synod worker run` on the node, in its own session, stderr in log and the summary in out."""
    argv = [
        SYNOD, "worker", "run", "--task", str(task_id), "--key", "w0", "--data", "digits:shard=0/2",
        "--home", str(node.home.root), "--node", node.rpc.url, "--no-verify", "--quiet", "-o", "json",
    ]  # fmt: skip
    with log.open("ab") as err, out.open("ab") as summary:
        return subprocess.Popen(argv, stdout=summary, stderr=err, start_new_session=True)


def _lines_with(log: Path, parts: tuple[str, ...]) -> list[int]:
    """The numbers of the log's lines that contain every one of parts."""
    lines = log.read_text(errors="replace").splitlines()
    return [i for i, line in enumerate(lines) if all(part in line for part in parts)]


def _running(worker: subprocess.Popen, log: Path) -> bool:
    """True while the worker runs; fail at once, with its log, if it exited."""
    if worker.poll() is not None:
        pytest.fail(f"the worker exited {worker.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
    return True


def test_a_worker_following_by_subscription_survives_a_node_restart(node: SynodNode, tmp_path: Path) -> None:
    node.wait_height(2)
    address = json.loads(node.cli("keys", "add", "w0", "--output", "json").stdout)["address"]
    sent = node.cli("tx", "bank", "send", "validator", address, "100000000usyn", "--yes", "--output", "json")
    assert json.loads(sent.stdout)["code"] == 0, sent.stdout
    task_id = _post_task(node)
    log, out = tmp_path / "worker.log", tmp_path / "worker.out"
    worker = _start_worker(node, task_id, log, out)
    client = TasksClient(node.rpc)

    def logged(parts: tuple[str, ...]) -> bool:
        """The worker runs, and its log has a line with parts."""
        return _running(worker, log) and bool(_lines_with(log, parts))

    try:
        wait_until("the worker's subscription", lambda: logged(FOLLOWING), 60)
        wait_until(
            "round 1 to close", lambda: _running(worker, log) and client.task(task_id).task.rounds_done, 60
        )
        node.kill9()
        wait_until("CometBFT to die with its supervisor", lambda: not node.cometbft_pids(), 10)
        wait_until("the worker's fallback to polling", lambda: logged(DROPPED), 15)
        node.start()
        wait_until("the worker to resubscribe", lambda: logged(RESUBSCRIBED), 30)
        code = worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker still runs 60 s after resubscribing:\n{log.read_text()[-3000:]}")
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
    assert code == 0, log.read_text()[-3000:]
    summary = json.loads(out.read_text())
    assert summary["status"] == "finished" and summary["rounds_done"] == ROUNDS, summary
    assert summary["accepted_updates"] == ROUNDS, summary
    # Subscribed, dropped once (one warning, not one per reconnect attempt), then resubscribed.
    (first,), drops, (again,) = (_lines_with(log, p) for p in (FOLLOWING, DROPPED, RESUBSCRIBED))
    assert len(drops) == 1 and first < drops[0] < again, log.read_text()[-3000:]
