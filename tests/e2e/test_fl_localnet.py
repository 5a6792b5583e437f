"""Federated learning end to end: a real four-validator localnet and three JAX workers as processes.

The owner posts a digits logistic-regression task with `synod tx task post`; three `synod worker run
--quiet` processes, each on a Dirichlet(0.5) label-skewed shard and each talking to a different
validator, join and train for three rounds. Worker 0 reads with verification on (its home holds a
trust anchor): every checkpoint it trains from is proven against a header its light client verified.
Worker 1 is SIGKILLed right after its round-2 commitment lands and restarted with the same command:
it must reveal what it saved and never submit twice. Worker 2 is SIGKILLed for good after its
round-3 commitment: the round closes without it (a missed reveal) and the task finishes on schedule.

Phases close as soon as their work is in (early close): round 1 in a few blocks, while round 3's
reveal phase runs to its deadline without the crashed worker.

Timing: the localnet makes a block about every 0.4-0.8 s (timeout_commit 300ms plus consensus on a
loaded machine). The join phase leaves time for three processes to import JAX, join and compile
their training step; a round's commit phase then needs only the download, milliseconds of training
and one block, and its reveal phase (which, once every worker has committed, starts at once)
leaves a killed worker time to restart and reveal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from app.client.keyring import Keyring
from app.client.sender import TxSender
from app.client.tasks import TasksClient
from app.client.txbuilder import msg_send
from app.core.coins import Coins
from app.core.fixedpoint import WEIGHT_FORMAT
from app.ml.export import read_model
from app.node import localnet as net
from app.node.toolchain import find_binary
from synod.tasks.v1 import tasks_pb2
from tests.e2e.localnet_helpers import Localnet, checkpoint_accuracy, running_localnet, wait_until
from tests.e2e.nodes import synod

pytestmark = pytest.mark.e2e

VALIDATORS = 4
WORKERS = 3
ROUNDS, JOIN_BLOCKS, COMMIT_BLOCKS, REVEAL_BLOCKS = 3, 40, 14, 24
REWARD, STAKE = 9_000_000, 1000
RESTARTED, CRASHED = 1, 2


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory):
    """Four validators on a free 127.0.X.1-4 block for this module, stopped at its end."""
    directory = tmp_path_factory.mktemp("fl-localnet") / "run"
    with running_localnet(directory, VALIDATORS, salt=59) as localnet:
        localnet.wait_all(2)
        yield localnet


class Workers:
    """The worker processes: keys in one home, each on its own shard and validator, logs in files."""

    def __init__(self, localnet: Localnet, root: Path, task_id: int, count: int = WORKERS) -> None:
        self.localnet, self.root, self.task_id, self.count = localnet, root, task_id, count
        self.home = root / "workers"
        # Worker 0 has a home of its own, where `synod light init` puts its trust anchor.
        self.verified_home = root / "verified-worker"
        self.addresses = [Keyring(self.home_of(i)).add(f"w{i}")[0].address for i in range(count)]
        self.procs: dict[int, subprocess.Popen] = {}
        self.killed: set[int] = set()

    def home_of(self, i: int) -> Path:
        """Worker i's home (its keyring and, for worker 0, its light client)."""
        return self.verified_home if i == 0 else self.home

    def argv(self, i: int) -> list[str]:
        """`synod worker run` for worker i (worker 0 verifies every read over its node's gRPC)."""
        data = f"digits:shard={i}/{self.count}:dirichlet=0.5:seed=7"
        node = net.rpc_address(self.localnet.spec, i % VALIDATORS)
        verify = (
            ["--verify", "--grpc", net.grpc_address(self.localnet.spec, 0)] if i == 0 else ["--no-verify"]
        )
        return [
            find_binary("synod"), "worker", "run", "--task", str(self.task_id), "--key", f"w{i}",
            "--data", data, "--home", str(self.home_of(i)), "--node", node, "--quiet", "-o", "json", *verify,
        ]  # fmt: skip

    def start(self, i: int) -> None:
        """Launch worker i (appending to its log), in its own session."""
        self.killed.discard(i)
        with (self.root / f"w{i}.log").open("ab") as log, (self.root / f"w{i}.out").open("ab") as out:
            self.procs[i] = subprocess.Popen(self.argv(i), stdout=out, stderr=log, start_new_session=True)

    def kill(self, i: int) -> None:
        """SIGKILL worker i (a crash) and reap it."""
        os.kill(self.procs[i].pid, signal.SIGKILL)
        self.procs[i].wait(timeout=10)
        self.killed.add(i)

    def check_running(self) -> bool:
        """Fail at once, with its log, if a worker we did not kill has exited."""
        for i, proc in self.procs.items():
            if proc.poll() is not None and i not in self.killed:
                pytest.fail(f"worker {i} exited {proc.returncode} early:\n{self.log(i)[-3000:]}")
        return True

    def log(self, i: int) -> str:
        """Worker i's stderr so far."""
        return (self.root / f"w{i}.log").read_text(errors="replace")

    def finish(self, i: int, timeout: float) -> dict:
        """Wait for worker i to exit 0 and return its JSON summary."""
        try:
            code = self.procs[i].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker {i} still running after {timeout:.0f} s:\n{self.log(i)[-3000:]}")
        assert code == 0, f"worker {i} exited {code}:\n{self.log(i)[-3000:]}"
        return json.loads((self.root / f"w{i}.out").read_text())

    def stop_all(self) -> None:
        """SIGKILL whatever of ours is still running."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _fund(localnet: Localnet, addresses: list[str]) -> None:
    """One tx from node0's validator account: 10^8 usyn to each worker (stake and fees)."""
    key = Keyring(localnet.home(0)).private_key("validator")
    sender = TxSender(localnet.rpc[0], key)
    sender.send([msg_send(key.address, a, Coins.of([("usyn", 10**8)])) for a in addresses], timeout=60)


def _post_task(localnet: Localnet, arch: str = "logreg", rounds: int = ROUNDS, workers: int = WORKERS) -> int:
    """`synod tx task post` through node0; returns the task id."""
    flags = {
        "--dataset": "digits", "--arch": arch, "--rounds": rounds, "--join-blocks": JOIN_BLOCKS,
        "--commit-blocks": COMMIT_BLOCKS, "--reveal-blocks": REVEAL_BLOCKS, "--min-workers": 2,
        "--max-workers": workers, "--stake": f"{STAKE}usyn", "--reward": f"{REWARD}usyn", "--rule": "mean",
    }  # fmt: skip
    args = [str(part) for pair in flags.items() for part in pair]
    posted = localnet.tx("task", "post", "--from", "validator", *args, via=0)
    return int(posted["task_id"])


def _wait_for_commitment(workers: Workers, client: TasksClient, round_: int, i: int) -> None:
    """Block until worker i's commitment for round_ is in committed state."""
    task_id, worker = workers.task_id, workers.addresses[i]
    wait_until(
        f"worker {i}'s round-{round_} commitment",
        lambda: workers.check_running()
        and any(c.worker == worker for c in client.round_state(task_id, round_).commitments),
        timeout=120,
        poll=0.1,
    )


def test_three_workers_train_a_model_through_kills_and_restarts(network: Localnet, tmp_path: Path) -> None:
    started = time.monotonic()
    task_id = _post_task(network)
    workers = Workers(network, tmp_path, task_id)
    _fund(network, workers.addresses)
    print(f"task {task_id} posted and workers funded in {time.monotonic() - started:.0f} s")
    client = TasksClient(network.rpc[0])
    synod("light", "init", "--home", str(workers.verified_home), "--node", network.rpc[0].url)
    try:
        for i in range(WORKERS):
            workers.start(i)
        _wait_for_commitment(workers, client, 2, RESTARTED)
        workers.kill(RESTARTED)
        workers.start(RESTARTED)
        _wait_for_commitment(workers, client, 3, CRASHED)
        workers.kill(CRASHED)
        summaries = [workers.finish(i, timeout=150) for i in (0, RESTARTED)]
    finally:
        workers.stop_all()
    _check_consensus_on_every_round(network, task_id)
    _check_contributions(network, client, workers, task_id, summaries)
    _check_verified_worker(client, workers, task_id)
    _check_learning(network, client, workers, task_id, tmp_path)
    print(f"federated learning e2e: {time.monotonic() - started:.0f} s after the network was up")


def _check_consensus_on_every_round(network: Localnet, task_id: int) -> None:
    """Every validator reports the same aggregated checkpoint for every round."""
    views = [
        [(r.round, r.outcome, r.model_hash) for r in TasksClient(rpc).rounds(task_id)] for rpc in network.rpc
    ]
    assert all(view == views[0] for view in views), views
    assert [(r, o) for r, o, _ in views[0]] == [
        (r, tasks_pb2.ROUND_OUTCOME_AGGREGATED) for r in range(ROUNDS + 1)
    ]
    assert len({h for _, _, h in views[0]}) == ROUNDS + 1  # every round moved the model


def _check_contributions(
    network: Localnet, client: TasksClient, workers: Workers, task_id: int, summaries: list[dict]
) -> None:
    """The restarted worker contributed once per round; the crashed one missed its last reveal."""
    records = client.rounds(task_id)
    addresses = workers.addresses
    assert [(r.committed, r.revealed, len(r.accepted_workers)) for r in records[1:]] == [
        (3, 3, 3),
        (3, 3, 3),
        (3, 2, 2),
    ]
    assert addresses[CRASHED] not in records[3].accepted_workers
    # Round 1 ends as soon as every worker has revealed (early close), well before its deadlines; round
    # 3 waits out its reveal phase for the crashed worker. Lengths in blocks, first to closing height.
    lengths = [r.height - r.start_height + 1 for r in records[1:]]
    assert lengths[0] < COMMIT_BLOCKS + REVEAL_BLOCKS and lengths[2] > REVEAL_BLOCKS, lengths
    members = {p.address: (p.accepted_updates, p.missed_reveals) for p in client.participants(task_id)}
    assert members == {addresses[0]: (3, 0), addresses[RESTARTED]: (3, 0), addresses[CRASHED]: (2, 1)}
    # Join, three commits, three reveals: any second submission that reached a block would show here.
    account = network.query("auth", "account", addresses[RESTARTED])
    assert int(account["sequence"]) == 1 + 2 * ROUNDS
    assert "re-sending" not in workers.log(RESTARTED)  # the commitment had landed: nothing was re-sent
    share = REWARD * 3 // 8  # 3 of the 8 accepted updates each
    for summary in summaries:
        assert summary["status"] == "finished" and summary["accepted_updates"] == 3
        assert summary["reward"] == f"{share}usyn" and summary["stake_returned"] == f"{STAKE}usyn"


def _check_verified_worker(client: TasksClient, workers: Workers, task_id: int) -> None:
    """Worker 0 proved the checkpoint of every round it trained from (and the initial one it warmed up on)."""
    log = workers.log(0)
    assert "reads are verified against light-client headers" in log
    for record in client.rounds(task_id)[:ROUNDS]:
        line = (
            f"checkpoint {record.round} of task {task_id} ({record.model_hash.hex()[:16]}) proven at height"
        )
        assert line in log, f"round {record.round}'s checkpoint was not proven:\n{log[-3000:]}"


def _check_learning(
    network: Localnet, client: TasksClient, workers: Workers, task_id: int, tmp_path: Path
) -> None:
    """The final model beats the initial one on the held-out test data; the CLI download verifies."""
    task = client.task(task_id).task
    assert task.status == tasks_pb2.TASK_STATUS_FINISHED
    initial, final = checkpoint_accuracy(client, task, 0), checkpoint_accuracy(client, task, ROUNDS)
    assert final > max(initial + 0.3, 0.6), (initial, final)
    out = synod(
        "query", "task", "model", str(task_id), "--out", str(tmp_path / "final.npy"),
        "--node", network.rpc[3].url, "--home", network.home(3),
    ).stdout  # fmt: skip
    assert "matched by the weights" in out and task.model_hash.hex() in out
    assert np.load(tmp_path / "final.npy").shape == (650,)
    verified = synod(
        "query", "task", "model", str(task_id), "--round", str(ROUNDS), "--verify",
        "--out", str(tmp_path / "m.npz"), "--home", str(workers.verified_home), "--node", network.rpc[1].url,
        "--grpc", net.grpc_address(network.spec, 1),
    ).stdout  # fmt: skip
    assert "verified at height" in verified and task.model_hash.hex() in verified, verified
    # One named float32 array per layout block; in layout order they are the flat vector.
    flat = read_model(
        tmp_path / "m.npz", "npz", task.model.arch, (task.model.n_features,), task.model.n_classes
    )
    assert np.array_equal(flat, np.load(tmp_path / "final.npy"))
    print(f"test accuracy: initial {initial:.1%}, after {ROUNDS} rounds {final:.1%}")


# 64 x 4000 + 4000 + 4000 x 10 + 10 = 300,010 parameters: a 600,020-byte update (one 512 KiB part and
# a tail) and a 1.2 MB checkpoint, over the post's inline limit, so the chain derives it from the seed.
LARGE_ARCH, LARGE_ROUNDS, LARGE_WORKERS = "mlp:4000", 2, 2


def test_a_model_larger_than_a_transaction_trains_with_parts_and_a_seeded_start(
    network: Localnet, tmp_path: Path
) -> None:
    """The large-model path at reduced size: round-0 weights derived on chain from the post's seed,
    every update revealed as a MsgRevealPart and a closing MsgRevealUpdate, every validator agreeing
    on every checkpoint, and the model learning."""
    from app.core.architectures import compute_layout
    from app.core.initializers import compute_seeded_weights

    task_id = _post_task(network, LARGE_ARCH, LARGE_ROUNDS, LARGE_WORKERS)
    client = TasksClient(network.rpc[0])
    task = client.task(task_id).task
    assert task.model.arch == LARGE_ARCH
    layout = compute_layout(LARGE_ARCH, (task.model.n_features,), task.model.n_classes)
    _, weights = client.model(task_id, 0)
    assert weights == WEIGHT_FORMAT.encode(compute_seeded_weights(layout, (0).to_bytes(8, "big")))
    workers = Workers(network, tmp_path, task_id, LARGE_WORKERS)
    _fund(network, workers.addresses)
    # Worker 0 verifies its reads: every 1.2 MB checkpoint it trains from is proven.
    synod("light", "init", "--home", str(workers.verified_home), "--node", network.rpc[0].url)
    try:
        for i in range(LARGE_WORKERS):
            workers.start(i)
        summaries = [workers.finish(i, timeout=240) for i in range(LARGE_WORKERS)]
    finally:
        workers.stop_all()
    assert all(s["status"] == "finished" and s["accepted_updates"] == LARGE_ROUNDS for s in summaries)
    for i in range(LARGE_WORKERS):
        assert "revealed the update (600,020 bytes in 2 transactions)" in workers.log(i), workers.log(i)[
            -2000:
        ]
        # Join, then per round a commitment, one part and the closing reveal.
        account = network.query("auth", "account", workers.addresses[i])
        assert int(account["sequence"]) == 1 + 3 * LARGE_ROUNDS
    views = [[(r.round, r.model_hash) for r in TasksClient(rpc).rounds(task_id)] for rpc in network.rpc]
    assert all(view == views[0] for view in views) and len({h for _, h in views[0]}) == LARGE_ROUNDS + 1
    task = client.task(task_id).task
    initial, final = checkpoint_accuracy(client, task, 0), checkpoint_accuracy(client, task, LARGE_ROUNDS)
    assert final > max(initial + 0.3, 0.6), (initial, final)
    print(f"large model ({LARGE_ARCH}): test accuracy {initial:.1%} -> {final:.1%}")
