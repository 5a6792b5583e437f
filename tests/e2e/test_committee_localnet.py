"""Committees end to end: sampled validators score every update, and the chain slashes three cheats.

A real four-validator localnet with vote extensions on: all four validators are on committee duty
from genesis, deal a threshold BLS key among themselves on chain (DKG), and sample every committee
from the group's epoch seed. The owner posts a CNN task (a JSON layer list on 8x8x1 inputs) with a
score phase on its own data: digits as a CSV of pixel columns and as a folder of PNGs. Its
evaluation rows are published with `--eval-data` and served by `synod blob serve` over HTTP, so
every committee member fetches them by URI and checks them against the task's hash. Four `synod
worker run` processes join, two on shards of the training CSV and two on shards of the training
image folder: two honest (one of each), one that sign-flips its update (`--attack
sign_flip:scale=2`) and one free-rider that reveals a near copy of another worker's update the chain
accepted last round, its bytes new (`--attack near_copy`: 1% noise). Every validator runs `synod
committee run`, which commits to its scores and then reveals them; validator 3 copies instead of
evaluating (`--attack copy`): it commits another member's commitment and later sends that member's
revealed scores and salt as its own. After three rounds: the sign-flipper's updates fail their
scores and the free-rider's near copies are caught by their cosine, both lose stake; the copier's
reveals open no commitment of its own, so it counts as silent every round and is slashed; the honest
workers are paid and the model improved. Every node agrees on every verdict. At the end the served
file is tampered with, and `synod task plot` refuses it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from app.client.committee import CommitteeClient
from app.client.keyring import Keyring
from app.client.sender import TxSender
from app.client.tasks import TasksClient
from app.client.txbuilder import msg_send
from app.core.coins import Coins
from app.demo.samples import digit_pages, write_image_folder
from app.node import localnet as net
from app.node.toolchain import find_binary
from synod.committee.v1 import committee_pb2
from synod.tasks.v1 import tasks_pb2
from tests.e2e.localnet_helpers import Agents, Localnet, checkpoint_accuracy, running_localnet, wait_until

pytestmark = pytest.mark.e2e

VALIDATORS = 4
# The join phase covers eight processes (4 workers, 4 members) importing JAX and compiling on 2 cores
# shared with other work (75 blocks ran out under load); it closes as soon as the fourth worker joins.
# The score phase: a commit window of 10 blocks (each member's download and evaluation), then the
# default attest_reveal_blocks = 4 (opened early once every seat has committed).
ROUNDS, JOIN_BLOCKS, COMMIT_BLOCKS, REVEAL_BLOCKS, SCORE_BLOCKS = 3, 240, 8, 6, 14
REWARD, STAKE = 9_000_000, 10_000
# Scale 2: a scale-1 flip of a converged round's small update can land within max_score_drop_bps of
# its peers (it did in round 3 here); an attacker who means harm scales it.
WORKER_ATTACKS = ("", "", "sign_flip:scale=2", "near_copy")
HONEST, SIGN_FLIP, FREE_RIDER = (0, 1), 2, 3
IMAGE_WORKERS = (1, 3)  # on the image folder; the others on the CSV
# 1,370 parameters. Adam at 0.01 takes one honest worker's round-1 update from chance (about 13%) to
# about 76%, so a sign flip or an empty update is far below the round's median from round 1 on. (With
# SGD a round-1 update moves it to 30-45%; a flipped CNN update at chance can even score above it.)
CNN = json.dumps(
    [
        {"type": "conv2d", "features": 8, "kernel": [3, 3]},
        {"type": "relu"},
        {"type": "max_pool", "window": [2, 2]},
        {"type": "flatten"},
        {"type": "dense"},
    ]
)
COPIER = 3  # the validator whose committee agent copies another member's commitment and reveal


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory):
    """Four validators (all committee members, beacon on) on a free 127.0.X block, stopped at the end."""
    directory = tmp_path_factory.mktemp("committee-localnet") / "run"
    with running_localnet(directory, VALIDATORS, salt=71) as localnet:
        localnet.wait_all(2)
        yield localnet


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_csv(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """Rows as a CSV with features p0.. and a label column `digit` (float32 values written exactly)."""
    header = ",".join([*(f"p{j}" for j in range(x.shape[1])), "digit"])
    lines = [
        ",".join([*(repr(float(v)) for v in row), str(int(label))]) for row, label in zip(x, y, strict=True)
    ]
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def _own_data(directory: Path) -> tuple[dict[str, Path], Path]:
    """Digits as the owner's files: every fifth one in eval.csv for the task; the others for the
    workers, as train.csv and as the same pictures in an image folder (pixels in [0, 1] in both)."""
    pages, labels = digit_pages(canvas=8)
    x = pages.reshape(len(pages), -1).astype(np.float32) / np.float32(255)
    held = np.arange(len(labels)) % 5 == 0
    directory.mkdir(parents=True, exist_ok=True)
    train = {
        "csv": _write_csv(directory / "train.csv", x[~held], labels[~held]),
        "images": write_image_folder(directory / "train-images", pages, labels, np.flatnonzero(~held)),
    }
    return train, _write_csv(directory / "eval.csv", x[held], labels[held])


def _post_task(localnet: Localnet, eval_file: Path, blobs: Path, url: str) -> int:
    """A committee-scored task on the owner's CSV through node0, its rows served at url; returns its id."""
    flags = {
        "--dataset": "digits-owner", "--arch": CNN, "--input-shape": "8,8,1", "--optimizer": "adam",
        "--learning-rate": 0.01,
        "--rounds": ROUNDS, "--join-blocks": JOIN_BLOCKS,
        "--commit-blocks": COMMIT_BLOCKS, "--reveal-blocks": REVEAL_BLOCKS, "--score-blocks": SCORE_BLOCKS,
        "--min-workers": 2, "--max-workers": 4, "--stake": f"{STAKE}usyn", "--reward": f"{REWARD}usyn",
        "--rule": "mean", "--eval-data": eval_file, "--label": "digit", "--blob-dir": blobs,
        "--eval-url": url, "--no-standardize": None,
    }  # fmt: skip
    args = [str(part) for pair in flags.items() for part in pair if part is not None]
    return int(localnet.tx("task", "post", "--from", "validator", *args, via=0)["task_id"])


def _start_agents(localnet: Localnet, agents: Agents, task_id: int, train: dict[str, Path]) -> list[str]:
    """Fund and start the four workers and the four committee members; return worker addresses."""
    home = agents.root / "workers"
    keyring = Keyring(home)
    addresses = [keyring.add(f"w{i}")[0].address for i in range(len(WORKER_ATTACKS))]
    key = Keyring(localnet.home(0)).private_key("validator")
    TxSender(localnet.rpc[0], key).send(
        [msg_send(key.address, a, Coins.of([("usyn", 10**8)])) for a in addresses], timeout=60
    )
    synod = find_binary("synod")
    for i, attack in enumerate(WORKER_ATTACKS):
        source = train["images" if i in IMAGE_WORKERS else "csv"]
        argv = [
            synod, "worker", "run", "--task", str(task_id), "--key", f"w{i}", "--home", str(home),
            "--data", f"{source}:shard={i}/{len(WORKER_ATTACKS)}:seed=3",
            "--node", net.rpc_address(localnet.spec, i % VALIDATORS), "--quiet", "-o", "json",
        ]  # fmt: skip
        agents.start(f"w{i}", argv + (["--attack", attack] if attack else []))
    for v in range(VALIDATORS):
        argv = [
            synod, "committee", "run", "--key", "validator", "--home", localnet.home(v),
            "--node", net.rpc_address(localnet.spec, v), "--quiet", "-o", "json",
        ]  # fmt: skip
        agents.start(f"member{v}", argv + (["--attack", "copy"] if v == COPIER else []))
    return addresses


def test_committees_slash_a_sign_flipper_a_free_rider_and_a_copying_member(
    network: Localnet, tmp_path: Path
) -> None:
    started = time.monotonic()
    train, eval_file = _own_data(tmp_path / "owner")
    blobs, url = tmp_path / "blobs", f"http://127.0.0.1:{_free_port()}"
    task_id = _post_task(network, eval_file, blobs, url)
    server = Agents(tmp_path)  # the owner's file server, up until the tampered rows are refused
    server.start("blobs", [find_binary("synod"), "blob", "serve", str(blobs), "--listen", url[7:]])
    try:
        _run_and_check(network, Agents(tmp_path), task_id, train, started)
        task = TasksClient(network.rpc[0]).task(task_id).task
        assert task.data.eval_data.startswith(url) and "GET /" in server.log("blobs")
        _check_tampered_data_is_refused(network, task, tmp_path)
    finally:
        server.stop_all()


def _run_and_check(
    network: Localnet, agents: Agents, task_id: int, train: dict[str, Path], started: float
) -> None:
    """Run the workers and members through every round, then check verdicts, slashes and accuracy."""
    copier_tokens = int(network.validator(network.operator(COPIER))["tokens"])
    client = TasksClient(network.rpc[0])
    try:
        workers = _start_agents(network, agents, task_id, train)
        summaries = {i: agents.finish(f"w{i}", timeout=300) for i in range(len(WORKER_ATTACKS))}
        wait_until(
            "round 3's scores", lambda: agents.check_running() and _scores(network, task_id, ROUNDS), 60
        )
    finally:
        agents.stop_all()
    scores = {r: _scores(network, task_id, r) for r in range(1, ROUNDS + 1)}
    _check_nodes_agree(network, task_id)
    _check_group_seeds(network, task_id)
    _check_workers(client, task_id, workers, scores, summaries)
    _check_copier(network, scores, copier_tokens)
    task = client.task(task_id).task
    initial, final = checkpoint_accuracy(client, task, 0), checkpoint_accuracy(client, task, ROUNDS)
    assert final > max(initial + 0.3, 0.6), (initial, final)
    print(f"committee e2e: accuracy {initial:.1%} -> {final:.1%} in {time.monotonic() - started:.0f} s")


def _check_tampered_data_is_refused(network: Localnet, task: tasks_pb2.Task, tmp_path: Path) -> None:
    """Rows changed on the server after the task committed to them: `synod task plot` refuses them."""
    blob = tmp_path / "blobs" / task.data.eval_hash.hex()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1  # the last row's label
    blob.write_bytes(bytes(data))
    argv = [find_binary("synod"), "task", "plot", str(task.id), "--out", str(tmp_path / "plot.png")]
    argv += ["--node", net.rpc_address(network.spec, 0)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"but the task committed to {task.data.eval_hash.hex()}: refused" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "plot.png").exists()


def _scores(network: Localnet, task_id: int, round_: int, via: int = 0) -> committee_pb2.RoundScores | None:
    """A round's judgement as node `via` reports it, or None before it is judged."""
    try:
        return CommitteeClient(network.rpc[via]).scores(task_id, round_)
    except Exception:  # not judged yet: the query answers not-found
        return None


def _check_nodes_agree(network: Localnet, task_id: int) -> None:
    """Every validator reports the same verdicts and checkpoints for every round."""
    for round_ in range(1, ROUNDS + 1):
        views = [_scores(network, task_id, round_, via=v) for v in range(VALIDATORS)]
        assert all(v == views[0] for v in views), f"round {round_}: nodes disagree"
    hashes = [[r.model_hash for r in TasksClient(rpc).rounds(task_id)] for rpc in network.rpc]
    assert all(h == hashes[0] for h in hashes)


def _check_group_seeds(network: Localnet, task_id: int) -> None:
    """Every round's committee was sampled from the DKG group's epoch seed, not the bootstrap beacon."""
    client = CommitteeClient(network.rpc[0])
    for round_ in range(1, ROUNDS + 1):
        committee = client.committee(task_id, round_).committee
        assert committee.seed_epoch > 0 and committee.seats, (round_, committee)
        assert committee.seed == client.epoch_seed(committee.seed_epoch), (round_, committee.seed)


def _describe(scores: dict[int, committee_pb2.RoundScores]) -> str:
    """The rounds' verdicts in a few lines, for failure messages."""
    lines = []
    for r, s in sorted(scores.items()):
        updates = ", ".join(
            f"{u.worker[-6:]}:{committee_pb2.Verdict.Name(u.verdict)[8:]}@{u.median_bps}" for u in s.updates
        )
        members = ", ".join(
            f"{m.operator[-6:]}:{m.max_deviation_bps}{'!' if m.faulty else ''}" for m in s.members
        )
        lines.append(f"round {r} baseline {s.baseline_bps}: {updates} | members {members}")
    return "\n".join(lines)


def _verdicts(scores: dict[int, committee_pb2.RoundScores], worker: str) -> list[int]:
    """A worker's verdict in each round."""
    return [next(u.verdict for u in scores[r].updates if u.worker == worker) for r in sorted(scores)]


def _check_workers(
    client: TasksClient,
    task_id: int,
    workers: list[str],
    scores: dict[int, committee_pb2.RoundScores],
    summaries: dict[int, dict],
) -> None:
    """Cheats rejected and slashed; honest workers accepted every round and paid."""
    accepted, failed, replayed = (
        committee_pb2.VERDICT_ACCEPTED,
        committee_pb2.VERDICT_FAILED_SCORE,
        committee_pb2.VERDICT_REPLAYED,
    )
    for i in HONEST:
        assert _verdicts(scores, workers[i]) == [accepted] * ROUNDS, _describe(scores)
    assert _verdicts(scores, workers[SIGN_FLIP]) == [failed] * ROUNDS, _describe(scores)
    # Round 1 has nothing to copy yet (its empty update scores below its peers); from round 2 on, the
    # near copies of round r - 1's accepted updates are replays by the cosine rule.
    assert _verdicts(scores, workers[FREE_RIDER]) == [failed] + [replayed] * (ROUNDS - 1), _describe(scores)
    participants = {p.address: p for p in client.participants(task_id)}
    for cheat in (SIGN_FLIP, FREE_RIDER):
        assert int(participants[workers[cheat]].slashed) > 0, participants[workers[cheat]]
        assert participants[workers[cheat]].rejected_updates == ROUNDS
    for i in HONEST:
        assert participants[workers[i]].slashed in ("", "0")
        assert summaries[i]["status"] == "finished" and int(summaries[i]["reward"].removesuffix("usyn")) > 0
    assert int(summaries[SIGN_FLIP]["reward"].removesuffix("usyn")) == 0


def _check_copier(network: Localnet, scores: dict[int, committee_pb2.RoundScores], tokens: int) -> None:
    """The copier never landed a reveal, was faulty every round and slashed; the diligent members never
    were."""
    copier = network.operator(COPIER)
    for round_, record in scores.items():
        members = {m.operator: m for m in record.members}
        assert members[copier].faulty and not members[copier].attested, (round_, members[copier])
        assert not any(m.faulty for op, m in members.items() if op != copier), (round_, record.members)
    assert any(m.slashed for r in scores.values() for m in r.members if m.operator == copier)
    assert int(network.validator(copier)["tokens"]) < tokens
