"""The predictor agent: its decisions, state files, what it submits per round, and its loop against
the real App (scripted peers acting in every block)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from app.agents.predictor.agent import PredictorAgent, PredictorConfig, PredictorError
from app.agents.predictor.model import (
    LocalModel,
    ModelError,
    RoundView,
    compute_entries,
    compute_participant_seed,
    fetch_inputs,
    load_or_train,
    own_probabilities,
)
from app.agents.predictor.plan import Action, Observation, decide_action
from app.agents.predictor.state import (
    SavedPredictions,
    StateFileError,
    load_predictions,
    save_predictions,
)
from app.agents.progress import LogReporter
from app.client.consensus import InputsMismatch
from app.client.consensustx import msg_commit_predictions
from app.client.sender import compute_gas_limit
from app.core.crypto import decode_address
from app.ml.predattacks import parse_predict_attack
from app.ml.predict import revise, to_entries
from app.ml.queryinputs import resolve_inputs_uri
from app.modules.consensus import logic
from synod.consensus.v1 import consensus_pb2
from tests.integration.harness import test_key
from tests.unit.consensus_fakes import (
    BLOB,
    CLASSES,
    INPUTS,
    TRUTH,
    ConsensusNode,
    Crash,
    FakeModel,
    Scripted,
    new_chain,
    participant_of,
    post,
    post_msg,
    query_of,
)

BOB = test_key("bob").address

# --- decisions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obs", "action"),
    [
        (Observation("settled", 1, True), Action.EXIT),
        (Observation("closed", 1, False), Action.EXIT),
        (Observation("expired", 0, False), Action.EXIT),
        (Observation("pending", 0, False), Action.FAST),
        (Observation("waiting", 0, False), Action.WAIT),
        # registration: in round 0's commit phase only
        (Observation("commit", 0, False), Action.REGISTER),
        (Observation("commit", 0, False, saved=True), Action.REGISTER),
        (Observation("reveal", 0, False), Action.NOT_PARTICIPANT),
        (Observation("commit", 1, False), Action.NOT_PARTICIPANT),
        # commit phase: predict once; after a crash re-send what was saved; never predict twice
        (Observation("commit", 1, True), Action.PREDICT_AND_COMMIT),
        (Observation("commit", 1, True, saved=True), Action.COMMIT_SAVED),
        (Observation("commit", 1, True, saved=True, committed=True), Action.WAIT),
        # reveal phase: reveal what was saved, once
        (Observation("reveal", 1, True, saved=True, committed=True), Action.REVEAL),
        (Observation("reveal", 1, True, saved=True), Action.REVEAL),
        (Observation("reveal", 1, True, saved=True, committed=True, revealed=True), Action.WAIT),
        (Observation("reveal", 1, True), Action.MISSED),
    ],
)
def test_decide_action(obs: Observation, action: Action) -> None:
    assert decide_action(obs) is action


# --- state files ------------------------------------------------------------------------------


def _saved(round_: int = 2, participant: str = BOB) -> SavedPredictions:
    entries = [(1, 9_000), (0, 5_000), (2, 10_000)]
    return SavedPredictions(
        7, round_, participant, bytes(range(32)), logic.encode_predictions(entries), "revised"
    )


def test_state_file_round_trip_is_atomic_and_checked(tmp_path: Path) -> None:
    saved = _saved()
    path = save_predictions(tmp_path, saved)
    assert path.name == "round-000002.json" and sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert load_predictions(tmp_path, 7, 2, BOB) == saved
    assert (
        json.loads(path.read_text())["commitment"]
        == logic.compute_commitment(decode_address(BOB), 7, 2, saved.salt, saved.predictions).hex()
    )
    assert saved.commitment == msg_commit_predictions(BOB, 7, 2, saved.salt, saved.predictions).commitment
    assert load_predictions(tmp_path, 7, 3, BOB) is None


def test_foreign_or_damaged_state_files_are_refused(tmp_path: Path) -> None:
    path = save_predictions(tmp_path, _saved())
    with pytest.raises(StateFileError, match="belongs to query 7 round 2"):
        load_predictions(tmp_path, 8, 2, BOB)
    with pytest.raises(StateFileError, match="belongs to"):
        load_predictions(tmp_path, 7, 2, test_key("carol").address)
    doc = json.loads(path.read_text())
    doc["salt"] = "00" * 32  # no longer hashes to the recorded commitment
    path.write_text(json.dumps(doc))
    with pytest.raises(StateFileError, match="damaged"):
        load_predictions(tmp_path, 7, 2, BOB)


# --- what is submitted ------------------------------------------------------------------------

# Bob's model: sure of the truth on inputs 0-2, leaning to a wrong class on inputs 3-5.
SURE, UNSURE = [0.97, 0.02, 0.01], [0.35, 0.45, 0.20]
PROBS = np.array([np.roll(SURE if i < 3 else UNSURE, TRUTH[i]) for i in range(INPUTS)])
OWN = to_entries(PROBS)
PEERS_SAY = [(c, 9_000) for c in TRUTH]


def test_own_entries_in_round_0_then_revised_against_the_network() -> None:
    assert compute_entries(0, PROBS, None, 0.5) == (OWN, "model")
    assert [c for c, _ in OWN] == TRUTH[:3] + [(c + 1) % 3 for c in TRUTH[3:]]
    view = RoundView([(c, 8_000) for c in TRUTH], [PEERS_SAY, PEERS_SAY])
    revised, source = compute_entries(1, PROBS, view, 0.5)
    assert source == "revised" and revised == revise(PROBS, view.tallies, view.peers, 0.5)
    assert [c for c, _ in revised] == TRUTH  # the unsure inputs moved to the network's answer
    assert revised[:3] == OWN[:3]  # sure answers are kept as they were
    assert compute_entries(1, PROBS, view, 0.0)[0] == OWN  # no trust in the network: no revision


def test_an_attack_replaces_the_model_in_every_round() -> None:
    attack = parse_predict_attack("stubborn")
    view = RoundView([(c, 8_000) for c in TRUTH], [PEERS_SAY])
    first, source = compute_entries(0, PROBS, None, 0.5, attack, (11, 12))
    again, _ = compute_entries(1, PROBS, view, 0.5, attack, (11, 12))
    assert source == "attack:stubborn" and first == again
    assert all(c != own and conf == 10_000 for (c, conf), (own, _) in zip(first, OWN, strict=True))


def test_probabilities_fit_the_query_or_say_why_not() -> None:
    x = np.zeros((INPUTS, 4), np.float32)
    two = FakeModel(PROBS[:, :2] / PROBS[:, :2].sum(axis=1, keepdims=True))
    two.probabilities = lambda _x: two.probs  # type: ignore[method-assign]
    two.n_classes = 2  # type: ignore[misc]
    padded = own_probabilities(two, x, 3)
    assert padded.shape == (INPUTS, 3) and not padded[:, 2].any()
    with pytest.raises(ModelError, match="the model scores 3 classes, the query has only 2"):
        own_probabilities(FakeModel(PROBS), x, 2)
    with pytest.raises(ModelError, match="inputs have 5 features, the model takes 4"):
        own_probabilities(FakeModel(PROBS), np.zeros((INPUTS, 5), np.float32), 3)


def test_inputs_are_used_only_if_they_hash_to_the_query() -> None:
    query = consensus_pb2.PredictionQuery(
        id=4, input_count=INPUTS, inputs=BLOB, inputs_hash=hashlib.sha256(BLOB).digest()
    )
    assert fetch_inputs(query).x.shape == (INPUTS, 4) and fetch_inputs(query).labels is None
    query.inputs_hash = hashlib.sha256(b"other").digest()
    with pytest.raises(InputsMismatch, match="the source served other inputs"):
        fetch_inputs(query)
    uri = "synod:wine/test?start=0&count=5"
    blob, labels = resolve_inputs_uri(uri)
    by_ref = fetch_inputs(
        consensus_pb2.PredictionQuery(
            id=4, input_count=5, inputs_uri=uri, inputs_hash=hashlib.sha256(blob).digest()
        )
    )
    assert by_ref.x.shape == (5, 13) and list(by_ref.labels) == list(labels)


def test_the_trained_model_is_saved_and_reused_after_a_restart(tmp_path: Path, monkeypatch) -> None:
    spec = LocalModel("logreg", "wine:shard=0/2", compute_participant_seed(1, BOB))
    model = load_or_train(spec, tmp_path)
    x = resolve_inputs_uri("synod:wine/test?start=0&count=8")[0]
    from app.ml.queryinputs import decode_inputs

    probs = model.probabilities(decode_inputs(x))
    assert (tmp_path / "model.npz").exists() and model.n_classes == 3

    def no_training(*_args: object) -> None:
        raise AssertionError("trained again although a model was saved")

    monkeypatch.setattr("app.ml.predict.train_predictor", no_training)
    assert np.array_equal(load_or_train(spec, tmp_path).probabilities(decode_inputs(x)), probs)
    monkeypatch.undo()
    with pytest.raises(ModelError, match="unknown dataset"):
        load_or_train(LocalModel("logreg", "nope", 0), tmp_path)


# --- the loop, against the App ----------------------------------------------------------------


@pytest.fixture
def node() -> ConsensusNode:
    """Query 1 (rounds 0 and 1) posted; carol and dave predict the truth at 90% in every round."""
    chain = new_chain()
    post(chain)
    node = ConsensusNode(chain)
    node.actors += [Scripted(chain, "carol", PEERS_SAY), Scripted(chain, "dave", PEERS_SAY)]
    FakeModel.made = 0
    return node


def _agent(
    node: ConsensusNode, tmp_path: Path, log: io.StringIO | None = None, query_id: int = 1, **config: object
) -> PredictorAgent:
    def make(spec: LocalModel, directory: Path) -> FakeModel:
        assert spec == LocalModel("mlp:8", "wine:shard=0/3", compute_participant_seed(query_id, BOB))
        assert directory == tmp_path / "state"
        FakeModel.made += 1
        return FakeModel(PROBS)

    settings = PredictorConfig(query_id, "mlp:8", "wine:shard=0/3", tmp_path / "state", **config)  # type: ignore[arg-type]
    reporter = LogReporter(log if log is not None else io.StringIO(), prefix="predictor")
    return PredictorAgent(node, test_key("bob"), settings, reporter, sleep=node.sleep, make_model=make)  # type: ignore[arg-type]


def _revealed(node: ConsensusNode, round_: int, name: str = "bob") -> list[tuple[int, int]]:
    """name's revealed predictions of a closed round, from the chain."""
    commitments = node.chain.app.consensus.iterate_commitments(node.chain.app.store.view, 1, round_)
    (blob,) = [c.predictions for _, c in commitments if c.participant == test_key(name).address]
    return logic.decode_predictions(blob, INPUTS, CLASSES)


def _assert_each_round_committed_and_revealed_once(node: ConsensusNode) -> None:
    assert len(node.txs_of("MsgRegister", "bob")) == 1
    for name in ("MsgCommitPredictions", "MsgRevealPredictions"):
        codes = [int(f["tx_result"]["code"]) for f in node.txs_of(name, "bob")]
        assert codes == [0, 0], name
    assert participant_of(node.chain, "bob").missed_reveals == 0


def test_predictor_registers_commits_reveals_and_revises_until_settlement(
    node: ConsensusNode, tmp_path
) -> None:
    log = io.StringIO()
    summary = _agent(node, tmp_path, log).run()
    _assert_each_round_committed_and_revealed_once(node)
    register_tx = node.txs_of("MsgRegister", "bob")[0]
    assert register_tx in node.txs_of("MsgCommitPredictions", "bob")  # registered and committed in one tx
    assert participant_of(node.chain, "bob").stake.amount == "1000"  # the query's min stake
    # round 0: the model's own answers; round 1: revised against round 0's tally and the peers shown
    assert _revealed(node, 0) == OWN
    state = node.chain.app.consensus.get_round(node.chain.app.store.view, 1, 0)
    tallies = [(t.answer, t.support_bps) for t in state.tallies]
    assert tallies == [(c, 10_000 if i < 3 else 8_000) for i, c in enumerate(TRUTH)]
    assert _revealed(node, 1) == revise(PROBS, tallies, [PEERS_SAY, PEERS_SAY], 0.5)
    assert [c for c, _ in _revealed(node, 1)] == TRUTH
    assert load_predictions(tmp_path / "state", 1, 1, BOB).source == "revised"  # type: ignore[union-attr]
    assert (
        "round 0 closed: 3 revealed, 2 peers shown to us; ours agreed with the tally on 50.00%"
        in log.getvalue()
    )
    assert query_of(node.chain).status == consensus_pb2.QUERY_STATUS_SETTLED and FakeModel.made == 1
    assert (summary.status, summary.revealed_rounds, summary.settled_round) == ("settled", [0, 1], 1)
    assert (summary.own_agreement_bps, summary.final_agreement_bps) == (5_000, 10_000)
    assert summary.labels_source == "" and summary.stake == "1000usyn" and summary.missed_reveals == 0
    text = summary.describe()
    assert "own model 50.00%, final predictions 100.00%" in text and "revealed in 2 of 2 rounds" in text


@pytest.mark.parametrize("when", ["before", "after"])
def test_crash_around_the_register_broadcast_resends_the_saved_predictions(
    node: ConsensusNode, tmp_path, when: str
) -> None:
    node.crash_on_broadcast = ("MsgRegister", when)
    with pytest.raises(Crash):
        _agent(node, tmp_path).run()
    saved = load_predictions(tmp_path / "state", 1, 0, BOB)
    assert saved is not None  # written before the broadcast
    _agent(node, tmp_path).run()
    assert load_predictions(tmp_path / "state", 1, 0, BOB) == saved  # not predicted a second time
    _assert_each_round_committed_and_revealed_once(node)
    assert logic.encode_predictions(_revealed(node, 0)) == saved.predictions


def test_crash_after_the_commit_landed_reveals_after_restart(node: ConsensusNode, tmp_path) -> None:
    def crash_once_committed() -> None:
        if node.txs_of("MsgCommitPredictions", "bob"):
            node.sleep_hook = lambda: None
            raise Crash

    node.sleep_hook = crash_once_committed
    with pytest.raises(Crash):
        _agent(node, tmp_path).run()
    log = io.StringIO()
    summary = _agent(node, tmp_path, log).run()
    assert "round 0: re-sending the commitment saved before a restart" in log.getvalue()
    assert "round 0 commit: already committed (the chain has it)" in log.getvalue()
    _assert_each_round_committed_and_revealed_once(node)
    assert summary.revealed_rounds == [0, 1] and summary.final_agreement_bps == 10_000


def test_an_attacking_predictor_submits_the_attack_every_round(node: ConsensusNode, tmp_path) -> None:
    summary = _agent(node, tmp_path, attack="stubborn").run()
    first, second = _revealed(node, 0), _revealed(node, 1)
    assert first == second and all(c != own for (c, _), (own, _) in zip(first, OWN, strict=True))
    assert load_predictions(tmp_path / "state", 1, 1, BOB).source == "attack:stubborn"  # type: ignore[union-attr]
    agreeing = sum(c == t for (c, _), t in zip(second, TRUTH, strict=True))  # the settled answers
    assert (
        summary.behaviour == "attack:stubborn" and summary.final_agreement_bps == agreeing * 10_000 // INPUTS
    )
    with pytest.raises(PredictorError, match="--attack: unknown prediction attack"):
        _agent(node, tmp_path, attack="sign_flip")


def test_a_predictor_started_before_the_post_trains_then_takes_part(tmp_path) -> None:
    chain = new_chain()
    node = ConsensusNode(chain)
    node.actors += [Scripted(chain, "carol", PEERS_SAY)]
    poster = {"done": False}

    def post_later(height: int) -> list[bytes]:
        if height < 6 or poster["done"]:
            return []
        poster["done"] = True
        msg = post_msg()
        return [chain.tx("alice", msg, gas_limit=compute_gas_limit([msg]))]

    node.actors.insert(0, post_later)
    FakeModel.made = 0
    log = io.StringIO()
    summary = _agent(node, tmp_path, log).run()
    assert "query 1 is not posted yet; training while waiting" in log.getvalue() and FakeModel.made == 1
    assert summary.revealed_rounds == [0, 1]


def test_registration_closed_fast_queries_and_unknown_errors_are_clear(node: ConsensusNode, tmp_path) -> None:
    q = query_of(node.chain)
    while node.height < q.schedule.start_height + q.schedule.commit_blocks:
        node.block()
    with pytest.raises(PredictorError, match="not registered for query 1, and registration closed"):
        _agent(node, tmp_path).run()
    post(node.chain, fast=True, rounds=0)
    with pytest.raises(PredictorError, match="query 2 is a fast query"):
        _agent(node, tmp_path, query_id=2).run()
