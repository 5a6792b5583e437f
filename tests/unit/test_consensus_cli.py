"""`synod tx consensus ...`, `synod query consensus ...` and `synod predict run` through click's
CliRunner, against a node over the real App."""

from __future__ import annotations

import hashlib
import json
from contextlib import nullcontext
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.client.consensustx import QuerySpec, msg_post_query
from app.client.keyring import Keyring
from app.client.sender import compute_gas_limit
from app.core.crypto import decode_address
from app.ml.queryinputs import resolve_inputs_uri
from app.modules.consensus import logic
from cli.main import cli
from synod.consensus.v1 import consensus_pb2
from tests.integration.harness import test_key
from tests.unit.consensus_fakes import (
    BLOB,
    TRUTH,
    ConsensusNode,
    Scripted,
    X,
    coin,
    new_chain,
    participant_of,
    query_of,
)

CAROL, DAVE = test_key("carol").address, test_key("dave").address
YES = ("--yes",)


@pytest.fixture
def node(tmp_path: Path, monkeypatch) -> ConsensusNode:
    """A chain every consensus command reaches; alice, bob and validator0 in the home's keyring."""
    chain_node = ConsensusNode(new_chain())
    for module in ("cli.common", "cli.tx.task", "cli.tx.consensus", "cli.query.common", "cli.run.predict"):
        monkeypatch.setattr(f"{module}.resolve_node", lambda _node, _home: chain_node)
    keyring = Keyring(tmp_path)
    for name in ("alice", "bob", "validator0"):
        keyring.import_seed(name, test_key(name).seed)
    return chain_node


def _synod(tmp_path: Path, *args: str, ok: bool = True) -> str:
    """Run `synod ARGS --home HOME`; return the output."""
    result = CliRunner().invoke(cli, [*args, "--home", str(tmp_path)])
    assert (result.exit_code == 0) == ok, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.output


def _json(tmp_path: Path, *args: str) -> dict:
    """Run a command with -o json and parse its output."""
    return json.loads(_synod(tmp_path, *args, "-o", "json"))


def _inputs_file(tmp_path: Path, **extra: object) -> str:
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps({"inputs": X.tolist(), **extra}))
    return str(path)


def _post(tmp_path: Path, *args: str) -> dict:
    return _json(tmp_path, "tx", "consensus", "query", "--from", "alice", "--reward", "6000usyn", *args, *YES)


# --- posting, settling, revealing labels, and the queries on the result -----------------------


def test_post_with_committed_labels_settle_reveal_them_and_query_everything(
    node: ConsensusNode, tmp_path
) -> None:
    args = ["--file", _inputs_file(tmp_path, label_count=3, labels=TRUTH), "--commit-labels"]
    out = _post(tmp_path, *args, "--rounds", "1", "--commit-blocks", "2", "--reveal-blocks", "2")
    assert out["code"] == 0 and out["query_id"] == 1
    q = query_of(node.chain)
    assert (q.inputs, q.inputs_hash, q.input_count, q.label_count) == (
        BLOB,
        hashlib.sha256(BLOB).digest(),
        6,
        3,
    )
    (saved,) = (tmp_path / "consensus" / "labels").iterdir()
    record = json.loads(saved.read_text())
    assert record["labels"] == TRUTH and saved.name == f"{q.labels_commitment.hex()}.json"
    poster, salt = decode_address(q.poster), bytes.fromhex(record["salt"])
    assert logic.compute_labels_commitment(poster, q.inputs_hash, salt, bytes(TRUTH)) == q.labels_commitment

    show = _synod(tmp_path, "query", "consensus", "show", "1")
    assert "open; round 0/1 commit phase" in show
    assert f"6 ({len(BLOB)} bytes inline)" in show and q.labels_commitment.hex() in show
    entries = [(c, 9_000) for c in TRUTH]
    node.actors += [Scripted(node.chain, "carol", entries), Scripted(node.chain, "dave", entries)]
    node.blocks_until(lambda: query_of(node.chain).status == consensus_pb2.QUERY_STATUS_SETTLED)
    assert "waiting for the poster's labels" in _synod(tmp_path, "query", "consensus", "show", "1")

    out = _json(tmp_path, "tx", "consensus", "reveal-labels", "--from", "alice", "1", *YES)
    assert out["code"] == 0 and query_of(node.chain).status == consensus_pb2.QUERY_STATUS_CLOSED
    text = _synod(tmp_path, "query", "consensus", "answer", "1")
    assert "2 voters, accuracy 100.00% against the revealed labels" in text
    rows = [line.split() for line in text.splitlines()[2:]]
    assert rows == [[str(i), str(c), "100.00%", str(c), "yes"] for i, c in enumerate(TRUTH)]
    answer = _json(tmp_path, "query", "consensus", "answer", "1")
    assert answer["labels"] == TRUTH and answer["accuracy_bps"] == 10_000
    assert [a["answer"] for a in answer["answers"]] == TRUTH and answer["answers"][0]["support_bps"] == 10_000

    lines = {
        line.split()[0]: line.split()
        for line in _synod(tmp_path, "query", "consensus", "participants", "1").splitlines()[1:]
    }
    assert lines[CAROL][1:] == ["1000usyn", "50.00%", "0", "0usyn", "3000usyn", "6"]
    assert _json(tmp_path, "query", "consensus", "participants", "1")["participants"][1]["address"] in (
        CAROL,
        DAVE,
    )
    text = _synod(tmp_path, "query", "consensus", "round", "1", "0")
    assert "2 predictions" in text and CAROL in text and "LEADING" in text
    data = _json(tmp_path, "query", "consensus", "round", "1", "0")
    assert (
        len(data["reveals"]) == 2
        and data["reveals"][0]["predictions"] == logic.encode_predictions(entries).hex()
    )
    assert "56.25%" in _synod(tmp_path, "query", "consensus", "reputation", CAROL)  # (7 x 50% + 100%) / 8
    assert _json(tmp_path, "query", "consensus", "reputation", CAROL)["observations"] == 1
    assert "Invalid value for ADDRESS" in _synod(
        tmp_path, "query", "consensus", "reputation", "synod1x", ok=False
    )
    assert "closed" in _synod(tmp_path, "query", "consensus", "show", "1")
    data = _json(tmp_path, "query", "consensus", "show", "1")
    assert (
        data["query"]["status"] == "closed"
        and data["query"]["inputs_hash"] == hashlib.sha256(BLOB).hexdigest()
    )


def test_post_by_reference_or_inline_from_a_reference(node: ConsensusNode, tmp_path) -> None:
    uri = "synod:digits/test?start=0&count=5"
    blob, labels = resolve_inputs_uri(uri)
    _post(tmp_path, "--inputs-uri", uri, "--labels", "10", "--commit-labels")
    q = query_of(node.chain)
    assert (q.inputs, q.inputs_uri, q.inputs_hash, q.input_count) == (
        b"",
        uri,
        hashlib.sha256(blob).digest(),
        5,
    )
    assert (
        q.labels_commitment
        and (tmp_path / "consensus" / "labels" / f"{q.labels_commitment.hex()}.json").exists()
    )
    _post(tmp_path, "--inputs-uri", uri, "--labels", "10", "--inline", "--fast", "--rounds", "5")
    fast = query_of(node.chain, 2)
    assert (fast.inputs, fast.inputs_uri, fast.fast, fast.rounds) == (blob, "", True, 0)
    pending = _synod(tmp_path, "query", "consensus", "pending")
    assert pending.splitlines()[1].split()[:4] == ["2", test_key("alice").address, "5", "10"]
    assert "open; waiting for the validators' answers" in _synod(tmp_path, "query", "consensus", "show", "2")
    assert list(labels)  # the reference knew its labels, which --commit-labels committed to


def test_post_mistakes_are_caught_before_signing(node: ConsensusNode, tmp_path) -> None:
    file = _inputs_file(tmp_path)
    err = _synod(
        tmp_path, "tx", "consensus", "query", "--from", "alice", "--reward", "1usyn", "--file", file, ok=False
    )
    assert "give the number of classes with --labels N" in err
    both = ["--file", file, "--inputs-uri", "synod:wine/test?start=0&count=2", "--labels", "3"]
    err = _synod(
        tmp_path, "tx", "consensus", "query", "--from", "alice", "--reward", "1usyn", *both, ok=False
    )
    assert "exactly one of --file or --inputs-uri" in err
    (tmp_path / "labels.json").write_text("[0, 1]")
    args = ["--file", file, "--labels", "3", "--labels-file", str(tmp_path / "labels.json")]
    err = _synod(
        tmp_path, "tx", "consensus", "query", "--from", "alice", "--reward", "1usyn", *args, ok=False
    )
    assert "2 labels for 6 inputs" in err
    err = _synod(
        tmp_path,
        "tx",
        "consensus",
        "query",
        "--from",
        "alice",
        "--reward",
        "1usyn",
        "--file",
        file,
        "--labels",
        "3",
        "--commit-labels",
        ok=False,
    )
    assert "the inputs carry no labels" in err
    (tmp_path / "ragged.json").write_text(json.dumps({"inputs": [[1.0, 2.0], [3.0]]}))
    args = ["--file", str(tmp_path / "ragged.json"), "--labels", "3"]
    assert "Invalid value" in _synod(
        tmp_path, "tx", "consensus", "query", "--from", "alice", "--reward", "1usyn", *args, ok=False
    )
    assert node.chain.app.consensus.get_query(node.chain.app.store.view, 1) is None  # nothing was posted


def test_reveal_labels_from_a_file_and_salt_or_not_at_all(node: ConsensusNode, tmp_path) -> None:
    _post(
        tmp_path,
        "--file",
        _inputs_file(tmp_path, labels=TRUTH),
        "--labels",
        "3",
        "--rounds",
        "0",
        "--commit-labels",
    )
    entries = [(c, 9_000) for c in TRUTH]
    node.actors.append(Scripted(node.chain, "carol", entries))
    node.blocks_until(lambda: query_of(node.chain).status == consensus_pb2.QUERY_STATUS_SETTLED)
    (saved,) = (tmp_path / "consensus" / "labels").iterdir()
    salt = json.loads(saved.read_text())["salt"]
    saved.unlink()
    err = _synod(tmp_path, "tx", "consensus", "reveal-labels", "--from", "alice", "1", *YES, ok=False)
    assert "no labels saved under" in err and "pass --labels-file (and --salt)" in err
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"labels": [1] * 6}))
    err = _synod(
        tmp_path,
        "tx",
        "consensus",
        "reveal-labels",
        "--from",
        "alice",
        "1",
        "--labels-file",
        str(wrong),
        "--salt",
        salt,
        *YES,
        ok=False,
    )
    assert "do not hash to query 1's labels commitment" in err
    right = tmp_path / "right.json"
    right.write_text(json.dumps(TRUTH))
    _synod(
        tmp_path,
        "tx",
        "consensus",
        "reveal-labels",
        "--from",
        "alice",
        "1",
        "--labels-file",
        str(right),
        "--salt",
        salt,
        *YES,
    )
    assert query_of(node.chain).status == consensus_pb2.QUERY_STATUS_CLOSED


def test_register_by_hand_and_enrol_a_validator_model(node: ConsensusNode, tmp_path) -> None:
    _post(tmp_path, "--file", _inputs_file(tmp_path), "--labels", "3", "--min-stake", "1500usyn")
    err = _synod(tmp_path, "tx", "consensus", "reveal-labels", "--from", "alice", "1", *YES, ok=False)
    assert "posted without a labels commitment" in err and "consensus 26" in err
    assert _json(tmp_path, "tx", "consensus", "register", "--from", "bob", "1", *YES)["code"] == 0
    assert participant_of(node.chain, "bob").stake == coin(1500)  # the query's min stake by default
    err = _synod(
        tmp_path, "tx", "consensus", "register", "--from", "alice", "1", "--stake", "10usyn", *YES, ok=False
    )
    assert "needs a stake of at least 1500usyn" in err
    assert "(no models: validators enrol" in _synod(tmp_path, "query", "consensus", "models")
    _synod(
        tmp_path,
        "tx",
        "consensus",
        "register-model",
        "--from",
        "validator0",
        "--model",
        "mlp:64 digits",
        *YES,
    )
    (model,) = _json(tmp_path, "query", "consensus", "models")["models"]
    assert (model["operator"], model["model"]) == (test_key("validator0").address, "mlp:64 digits")
    err = _synod(
        tmp_path, "tx", "consensus", "register-model", "--from", "bob", "--model", "x", *YES, ok=False
    )
    assert "not a bonded validator" in err
    params = _synod(tmp_path, "query", "consensus", "params")
    assert "max inputs:" in params and "10.00% of the stake per missed reveal" in params
    assert _json(tmp_path, "query", "consensus", "params")["max_inputs"] == 512


# --- the predictor through the CLI ------------------------------------------------------------


def test_predict_run_trains_answers_a_query_and_prints_its_summary(
    node: ConsensusNode, tmp_path, monkeypatch
) -> None:
    uri = "synod:wine/test?start=0&count=10"
    blob, _ = resolve_inputs_uri(uri)
    spec = QuerySpec(label_count=3, reward=coin(500), min_stake=coin(1000), rounds=1)
    msg = msg_post_query(test_key("alice").address, spec, 10, hashlib.sha256(blob).digest(), inputs_uri=uri)
    state = tmp_path / "predictor" / f"query-1-{test_key('bob').address}"

    def post_once_trained(_height: int) -> list[bytes]:
        """Alice posts once the predictor has its model (started first, it trains while it waits)."""
        if not (state / "model.npz").exists() or node.chain.app.consensus.get_query(
            node.chain.app.store.view, 1
        ):
            return []
        return [node.chain.tx("alice", msg, gas_limit=compute_gas_limit([msg]))]

    node.actors.append(post_once_trained)
    node.tick_on_status = True  # the agent sleeps for real: every poll is a block
    monkeypatch.setattr("cli.run.predict.follow_node", lambda *_: nullcontext())  # no websocket here
    args = ["predict", "run", "--key", "bob", "--query", "1", "--model", "logreg", "--data", "wine:shard=0/2"]
    result = CliRunner().invoke(cli, [*args, "--poll", "0.05", "-q", "-o", "json", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # stdout: the summary; the log goes to stderr
    assert summary["status"] == "settled" and summary["revealed_rounds"] == [0, 1]
    assert summary["final_agreement_bps"] == 10_000  # the only voter: the settled answers are its own
    assert summary["labels_source"] == "from the inputs reference"
    assert summary["settled_accuracy_bps"] == summary["final_accuracy_bps"] >= 5_000
    assert "query 1 is not posted yet; training while waiting" in result.stderr
    err = _synod(tmp_path, *args, "--attack", "sign_flip", ok=False)
    assert "unknown prediction attack 'sign_flip'" in err


def test_an_agent_started_while_its_node_is_down_waits_for_the_chain_id(tmp_path) -> None:  # noqa: ANN001
    import io

    from app.agents.progress import LogReporter
    from app.agents.retry import Retrier
    from app.client.rpc import RpcError
    from cli.common import resolve_chain_id

    class DownThenUp:
        url = "http://127.0.0.1:1"
        calls = 0

        def status(self) -> dict:
            self.calls += 1
            if self.calls < 3:
                raise RpcError("cannot reach CometBFT RPC at http://127.0.0.1:1 (status): refused")
            return {"node_info": {"network": "synod-up"}}

    rpc, log = DownThenUp(), io.StringIO()
    sleeps: list[float] = []
    retry = Retrier(LogReporter(log, "predictor"), sleeps.append, rpc.url)
    assert resolve_chain_id(None, str(tmp_path), rpc, retry) == "synod-up"  # type: ignore[arg-type]
    assert rpc.calls == 3 and sleeps == [0.5, 1.0]
    assert "reading the chain id" in log.getvalue() and "answers again" in log.getvalue()
