"""`synod tx task` and `synod query task` through click's CliRunner, against the in-process App."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from safetensors import safe_open

from app.client.keyring import Keyring
from app.core.fixedpoint import WEIGHT_FORMAT
from app.ml.export import EXPORT_FORMATS, read_model
from app.ml.quantize import UPDATE_SPEC, quantize
from cli.main import cli
from synod.tasks.v1 import query_pb2, tasks_pb2
from tests.integration.harness import test_key
from tests.integration.tasks_harness import TaskChain
from tests.unit.test_worker import FakeNode

SIZE = 650  # logreg on digits: 64 x 10 + 10


@pytest.fixture
def env(tmp_path, monkeypatch):  # noqa: ANN201
    """A keyring with alice (owner) and bob (worker), and every task command wired to a FakeNode."""
    tc = TaskChain()
    tc.chain.init({"alice": 10**12, "bob": 10**12})
    node = FakeNode(tc)
    for module in ("cli.common", "cli.tx.task", "cli.query.common"):
        monkeypatch.setattr(f"{module}.resolve_node", lambda _node, _home: node)
    home = tmp_path / "home"
    for name in ("alice", "bob"):
        Keyring(home).import_seed(name, test_key(name).seed)
    return node, str(home)


def _synod(home: str, *args: str, ok: bool = True) -> str:
    """Run `synod ARGS --home HOME`; return stdout (and stderr)."""
    result = CliRunner().invoke(cli, [*args, "--home", home])
    assert (result.exit_code == 0) == ok, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.output


def _post(node: FakeNode, home: str) -> int:
    flags = ["--rounds", "1", "--join-blocks", "3", "--commit-blocks", "2", "--reveal-blocks", "2"]
    flags += ["--min-workers", "1", "--reward", "5000usyn", "--stake", "100usyn", "--rule", "mean"]
    posted = json.loads(_synod(home, "tx", "task", "post", "--from", "alice", *flags, "--yes", "-o", "json"))
    assert posted["code"] == 0 and posted["gas_wanted"] > 200_000  # sized for the 2600-byte weights
    return posted["task_id"]


def test_a_round_through_the_cli_and_a_verified_model_download(env, tmp_path) -> None:  # noqa: ANN001
    node, home = env
    task_id = _post(node, home)
    assert task_id == 1
    _synod(home, "tx", "task", "join", "--from", "bob", "1", "--yes")
    delta = np.linspace(-0.5, 0.5, SIZE, dtype=np.float32)
    np.save(tmp_path / "update.npy", delta)
    node.tc.advance_to(node.tc.task().start_height + 3)
    committed = json.loads(
        _synod(
            home,
            "tx",
            "task",
            "commit",
            "--from",
            "bob",
            "1",
            str(tmp_path / "update.npy"),
            "--samples",
            "50",
            "-y",
            "-o",
            "json",
        )
    )
    assert committed["code"] == 0 and committed["round"] == 1 and len(bytes.fromhex(committed["salt"])) == 32
    node.tc.advance_to(node.tc.task().start_height + 5)
    salt = committed["salt"]
    _synod(
        home,
        "tx",
        "task",
        "reveal",
        "--from",
        "bob",
        "1",
        str(tmp_path / "update.npy"),
        "--samples",
        "50",
        "--salt",
        salt,
        "-y",
    )
    node.tc.advance_to(node.tc.task().start_height + 8)

    rounds = json.loads(_synod(home, "query", "task", "rounds", "1", "-o", "json"))["rounds"]
    assert [(r["round"], r["outcome"], len(r["accepted_workers"])) for r in rounds] == [
        (0, "aggregated", 0),
        (1, "aggregated", 1),
    ]
    table = _synod(home, "query", "task", "rounds", "1")
    assert (
        "ACCEPTED/REVEALED/COMMITTED" in table and "1/1/1" in table and rounds[1]["model_hash"][:16] in table
    )
    assert "finished" in _synod(home, "query", "task", "show", "1")
    shown = json.loads(_synod(home, "query", "task", "show", "1", "-o", "json"))
    assert shown["phase"] == "finished" and shown["task"]["rounds_done"] == 1
    members = json.loads(_synod(home, "query", "task", "participants", "1", "-o", "json"))["participants"]
    assert [(p["address"], p["accepted_updates"]) for p in members] == [(test_key("bob").address, 1)]
    assert json.loads(_synod(home, "query", "task", "list", "-o", "json"))["tasks"][0]["status"] == "finished"

    out = _synod(home, "query", "task", "model", "1", "--round", "1", "--out", str(tmp_path / "w.npy"))
    assert "matched by the weights" in out and rounds[1]["model_hash"] in out
    initial = WEIGHT_FORMAT.decode(
        node.tc.app.tasks.get_model(node.tc.app.store.view, bytes.fromhex(rounds[0]["model_hash"])), SIZE
    )
    expected = (initial + (quantize(delta, UPDATE_SPEC) << 4)) / 65536.0
    np.testing.assert_allclose(np.load(tmp_path / "w.npy"), expected.astype(np.float32))
    _synod(home, "query", "task", "model", "1", "--out", str(tmp_path / "w.bin"), "--raw")
    assert hashlib.sha256((tmp_path / "w.bin").read_bytes()).hexdigest() == rounds[1]["model_hash"]
    for fmt in EXPORT_FORMATS:  # one float32 array per layout block, named, read back by name
        path = tmp_path / f"w.{fmt}"
        _synod(home, "query", "task", "model", "1", "--out", str(path), "-o", "json")
        flat = read_model(path, fmt, "logreg", (64,), 10)
        np.testing.assert_array_equal(flat, np.load(tmp_path / "w.npy"))
    with np.load(tmp_path / "w.npz") as blocks:
        assert {name: blocks[name].shape for name in blocks.files} == {
            "layer0.kernel": (64, 10),
            "layer0.bias": (10,),
        }
    meta = safe_open(str(tmp_path / "w.safetensors"), "np").metadata()
    assert meta["arch"] == "logreg" and meta["model_hash"] == rounds[1]["model_hash"]
    _synod(home, "query", "task", "model", "1", "--out", str(tmp_path / "x"), "--format", "safetensors")
    assert read_model(tmp_path / "x", "safetensors", "logreg", (64,), 10).shape == (SIZE,)
    refused = _synod(
        home,
        "query",
        "task",
        "model",
        "1",
        "--out",
        str(tmp_path / "y"),
        "--raw",
        "--format",
        "npz",
        ok=False,
    )
    assert "leave out --format" in refused


def test_a_conv_task_is_posted_with_flags(env) -> None:  # noqa: ANN001
    node, home = env
    arch = '[{"type":"conv2d","features":4,"kernel":[3,3]},{"type":"flatten"},{"type":"dense"}]'
    flags = ["--arch", arch, "--input-shape", "8,8,1", "--min-workers", "1", "--reward", "5000usyn"]
    flags += ["--optimizer", "adam", "--learning-rate", "0.01", "--batch-size", "16", "--local-epochs", "3"]
    posted = json.loads(_synod(home, "tx", "task", "post", "--from", "alice", *flags, "--yes", "-o", "json"))
    assert posted["code"] == 0, posted
    task = node.tc.task(posted["task_id"])
    assert (task.model.arch, tuple(task.model.input_shape)) == (arch, (8, 8, 1))
    h = task.hyper
    assert (h.optimizer, h.learning_rate_ppm, h.batch_size, h.local_epochs) == ("adam", 10_000, 16, 3)
    out = _synod(home, "tx", "task", "post", "--from", "alice", "--input-shape", "8,x", "--yes", ok=False)
    assert "not a list of positive sizes" in out
    out = _synod(home, "tx", "task", "post", "--from", "alice", "--learning-rate", "0", "--yes", ok=False)
    assert "Invalid value for '--learning-rate'" in out


def test_rejections_and_bad_input_are_messages_not_tracebacks(env, tmp_path) -> None:  # noqa: ANN001
    node, home = env
    _post(node, home)
    np.save(tmp_path / "short.npy", np.zeros(3, np.float32))
    out = _synod(
        home,
        "tx",
        "task",
        "commit",
        "--from",
        "bob",
        "1",
        str(tmp_path / "short.npy"),
        "--samples",
        "5",
        "-y",
        ok=False,
    )
    assert "1-D vector of 650 values" in out
    np.save(tmp_path / "update.npy", np.zeros(SIZE, np.float32))
    out = _synod(
        home,
        "tx",
        "task",
        "reveal",
        "--from",
        "bob",
        "1",
        str(tmp_path / "update.npy"),
        "--samples",
        "5",
        "--salt",
        "ab",
        "-y",
        ok=False,
    )
    assert "32 bytes of hex" in out
    # Committing during the join phase: CheckTx refuses it with the tasks module's code.
    out = _synod(
        home,
        "tx",
        "task",
        "commit",
        "--from",
        "bob",
        "1",
        str(tmp_path / "update.npy"),
        "--samples",
        "5",
        "-y",
        "--round",
        "1",
        ok=False,
    )
    assert "rejected in CheckTx" in out and "tasks" in out
    node.block()  # app.py keeps a CheckTx-rejected tx's sequence bump until the next Commit
    out = _synod(home, "tx", "task", "cancel", "--from", "bob", "1", "-y", ok=False)
    assert "code 13" in out  # only the owner may cancel
    assert (
        json.loads(_synod(home, "tx", "task", "cancel", "--from", "alice", "1", "-y", "-o", "json"))["code"]
        == 0
    )
    assert node.tc.task().status == tasks_pb2.TASK_STATUS_CANCELLED
    out = _synod(home, "query", "task", "show", "9", ok=False)
    assert "no task with id 9" in out


def test_post_spec_errors_and_unreachable_nodes(tmp_path) -> None:
    home = str(tmp_path / "home")
    Keyring(home).import_seed("alice", test_key("alice").seed)
    (tmp_path / "task.json").write_text(json.dumps({"schedule": {"round": 3}}))
    out = _synod(
        home, "tx", "task", "post", "--from", "alice", "--file", str(tmp_path / "task.json"), "-y", ok=False
    )
    assert "unknown task spec field 'schedule.round'" in out
    out = _synod(home, "query", "task", "list", "--node", "tcp://127.0.0.1:1", ok=False)
    assert "cannot reach CometBFT RPC" in out
    out = _synod(home, "worker", "run", "--task", "1", "--key", "nobody", "--data", "digits", ok=False)
    assert "key 'nobody' not found" in out


class _SlashedTaskClient:
    """A tasks client whose task 1 has an honest worker and a cheater the committee rejected twice."""

    def __init__(self, _rpc: object) -> None:
        pass

    def participants(self, _task_id: int) -> list[tasks_pb2.Participant]:
        honest = tasks_pb2.Participant(task_id=1, address="synod1honest", joined_height=3, accepted_updates=2)
        cheat = tasks_pb2.Participant(
            task_id=1, address="synod1cheat", joined_height=3, rejected_updates=2, slashed="400000"
        )
        return [honest, cheat]

    def task(self, task_id: int) -> query_pb2.QueryTaskResponse:
        task = tasks_pb2.Task(id=task_id)
        task.worker_stake.denom, task.worker_stake.amount = "usyn", "1000000"
        return query_pb2.QueryTaskResponse(task=task)


def test_the_participants_table_shows_rejected_updates_and_slashed_stake(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("cli.query.task.TasksClient", _SlashedTaskClient)
    monkeypatch.setattr("cli.query.common.resolve_node", lambda _node, _home: None)
    lines = _synod(str(tmp_path), "query", "task", "participants", "1").splitlines()
    header = next(line for line in lines if "WORKER" in line)
    assert "REJECTED" in header and "SLASHED" in header
    cheat = next(line for line in lines if "synod1cheat" in line).split()
    honest = next(line for line in lines if "synod1honest" in line).split()
    # a slashed cheater no longer reads like an idle worker
    assert "400000usyn" in cheat and "0usyn" in honest


@pytest.mark.parametrize(
    ("genesis", "said"),
    [
        (b'{"app_state": {}}', "has no chain_id"),
        (b'{"chain_id": ""}', "chain_id must be a non-empty string, not ''"),
        (b'{"chain_id": 5}', "chain_id must be a non-empty string, not 5"),
        (b"[1, 2]", "is not a JSON object"),
        (b"not json", "is not UTF-8 JSON (Expecting value: line 1 column 1"),
        (b"\xff\xfe{}", "is not UTF-8 JSON ('utf-8' codec can't decode byte 0xff"),
        (None, "cannot read"),  # a directory where the file should be
    ],
)
def test_a_bad_genesis_is_a_message_naming_the_file_not_a_traceback(
    env, genesis: bytes | None, said: str
) -> None:  # noqa: ANN001
    node, home = env
    path = Path(home) / "config" / "genesis.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if genesis is None:
        path.mkdir()
    else:
        path.write_bytes(genesis)
    result = CliRunner().invoke(
        cli, ["tx", "bank", "send", "alice", test_key("bob").address, "5usyn", "-y", "--home", home]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.output.startswith(
        f"Error: {path.resolve()}" if genesis else f"Error: cannot read {path.resolve()}"
    )
    assert said in result.output and result.output.rstrip().endswith(
        "fix the genesis file or pass --chain-id"
    )
    assert node.tc.chain.app.store.height == 1  # nothing was sent
