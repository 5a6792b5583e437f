"""The validator-ensemble fast path through the ABCI handlers: ExtendVote, VerifyVoteExtension,
PrepareProposal, ProcessProposal, FinalizeBlock and CheckTx, on four genesis validators of which three
registered a model."""

from __future__ import annotations

import builtins
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.abci.answers import AnswerWatcher
from app.core import bls, voteext
from app.core.crypto import PrivateKey
from app.modules.committee.beacon import compute_share_message
from app.modules.consensus import ensemble
from app.modules.consensus.logic import encode_predictions
from app.state.backend import Backend, LevelDBBackend, MemoryBackend
from synod.base.v1 import coin_pb2
from synod.consensus.v1 import consensus_pb2, ensemble_pb2, query_pb2, tx_pb2
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import (
    CHAIN_ID,
    DENOM,
    Chain,
    beacon_votes,
    test_bls_key,
    test_key,
)
from tests.integration.staking_harness import address, cons_address, validators_on_duty

VALIDATORS = ("val0", "val1", "val2", "val3")
MODELS = ("val0", "val1", "val2")  # val3 votes but has no model: its answers never count
SELF_BOND = 10_000_000
POWER = {
    cons_address("val0"): 30,
    cons_address("val1"): 20,
    cons_address("val2"): 10,
    cons_address("val3"): 5,
}
REWARD = 9_000
ACCEPT, REJECT = abci.ResponseProcessProposal.ACCEPT, abci.ResponseProcessProposal.REJECT
SETTLED = consensus_pb2.QUERY_STATUS_SETTLED
# Pinned: the app hash after test_fast_path_is_deterministic_and_pinned's last block.
GOLDEN_APP_HASH = "f6425acd920f3aec54a09bb1694e5a4e1c80bd9510cf906b382106c2910f84be"


def _vote_key(name: str) -> PrivateKey:
    """The consensus key staking_harness.cons_key is the public half of."""
    return test_key("consensus:" + name)


def _app_state() -> dict:
    """Four bonded genesis validators on committee duty; three with an ensemble model."""
    return validators_on_duty(VALIDATORS, SELF_BOND, models=MODELS)


def _chain(backend: Backend | None = None) -> Chain:
    chain = Chain(
        backend=backend or MemoryBackend(),
        beacon_keys={cons_address(n): test_bls_key(n) for n in VALIDATORS},
        beacon_powers=POWER,
        vote_keys={cons_address(n): _vote_key(n) for n in VALIDATORS},
    )
    chain.init({n: 10**12 for n in (*VALIDATORS, "alice")}, _app_state())
    return chain


def _post(chain: Chain, inputs: int = 3) -> int:
    """alice posts a fast query with 3 classes; returns its id."""
    msg = tx_pb2.MsgPostQuery(
        poster=test_key("alice").address,
        description="fast",
        input_count=inputs,
        label_count=3,
        inputs=b"x" * inputs,
        inputs_hash=hashlib.sha256(b"x" * inputs).digest(),
        reward=coin_pb2.Coin(denom=DENOM, amount=str(REWARD)),
        label_blocks=5,
        fast=True,
    )
    resp = chain.block([chain.tx("alice", [msg])])
    assert resp.tx_results[-1].code == 0, resp.tx_results[-1].log
    return max(q.id for q in chain.app.consensus.iterate_queries(chain.app.store.view))


def _query(chain: Chain, query_id: int) -> consensus_pb2.PredictionQuery:
    query = chain.app.consensus.get_query(chain.app.store.view, query_id)
    assert query is not None
    return query


def _answer(chain: Chain, query_id: int, blobs: dict[str, bytes]) -> None:
    """The named validators' next precommits carry these predictions for query_id."""
    chain.answers = {cons_address(n): {query_id: blob} for n, blob in blobs.items()}


AGREE = encode_predictions([(0, 9000), (1, 8000), (2, 7000)])
DISSENT = encode_predictions([(1, 10000), (1, 10000), (1, 10000)])


def test_a_fast_query_settles_within_two_blocks_of_its_inclusion() -> None:
    chain = _chain()
    query_id = _post(chain)
    posted = chain.app.store.height
    # Block posted+1: its last commit (votes on `posted`) was extended before the query existed.
    chain.block([])
    assert _query(chain, query_id).status == consensus_pb2.QUERY_STATUS_OPEN
    # The precommits on posted+1 answer; block posted+2 carries and settles them.
    _answer(chain, query_id, {"val0": AGREE, "val1": AGREE, "val2": DISSENT, "val3": DISSENT})
    before = {n: chain.balance(address(n)) for n in VALIDATORS}
    resp = chain.block([])
    assert chain.app.store.height == posted + 2
    query = _query(chain, query_id)
    assert query.status == SETTLED and query.settled_height == posted + 2
    settlement = chain.app.consensus.get_settlement(chain.app.store.view, query_id)
    assert settlement is not None
    # Weights 30 and 20 (x reputation) for AGREE beat 10 for DISSENT; val3 has no model.
    assert [t.answer for t in settlement.tallies] == [0, 1, 2]
    assert sorted(settlement.voters) == sorted(address(n) for n in MODELS)
    paid = {n: chain.balance(address(n)) - before[n] for n in VALIDATORS}
    assert paid["val3"] == 0 and paid["val0"] == paid["val1"] > paid["val2"] > 0  # val2 matched input 1
    assert sum(paid.values()) <= REWARD
    events = [e for r in resp.tx_results for e in r.events if e.type == "ensemble"]
    assert events and any(a.key == "settled" and a.value == str(query_id) for a in events[0].attributes)
    # Settled queries leave the pending set, so the next block carries no ensemble tx.
    assert chain.app.pending_fast_queries() == []
    chain.answers = {}
    assert not any(ensemble.is_ensemble_tx(t) for t in chain.prepare(_next_votes(chain)))


def test_a_minority_of_the_ensemble_does_not_settle_until_more_answer() -> None:
    chain = _chain()
    query_id = _post(chain)
    chain.block([])
    _answer(chain, query_id, {"val2": DISSENT, "val3": DISSENT})  # 10 of 60 model power
    chain.block([])
    assert _query(chain, query_id).status == consensus_pb2.QUERY_STATUS_OPEN
    _answer(chain, query_id, {"val0": AGREE, "val1": AGREE})  # 50 of 60 > 2/3
    chain.block([])
    assert _query(chain, query_id).status == SETTLED


def _next_votes(chain: Chain) -> list[abci.ExtendedVoteInfo]:
    return beacon_votes(chain.beacon_keys, chain.app.store.height, POWER, chain.vote_keys, chain.answers)


def _edit(raw: bytes, change: Callable[[ensemble_pb2.EnsembleTx], None]) -> bytes:
    tx = ensemble_pb2.EnsembleTx()
    tx.ParseFromString(raw[len(ensemble.ENSEMBLE_TX_PREFIX) :])
    change(tx)
    return ensemble.ENSEMBLE_TX_PREFIX + tx.SerializeToString(deterministic=True)


def _alter_answer(tx: ensemble_pb2.EnsembleTx) -> None:
    vote = next(v for v in tx.votes if v.validator_address == cons_address("val0"))
    ext = ensemble_pb2.VoteExtension.FromString(vote.extension)
    ext.answers[0].predictions = DISSENT
    vote.extension = ext.SerializeToString(deterministic=True)


@pytest.mark.parametrize(
    ("name", "tamper"),
    [
        ("drop a vote", lambda tx: tx.votes.pop(0)),
        ("alter an answer", _alter_answer),
        ("wrong round", lambda tx: setattr(tx, "vote_round", 1)),
        ("wrong height", lambda tx: setattr(tx, "vote_height", tx.vote_height - 1)),
        ("forge a signature", lambda tx: setattr(tx.votes[1], "signature", bytes(64))),
        ("reorder", lambda tx: tx.votes.reverse()),
    ],
)
def test_a_proposer_that_drops_or_alters_extensions_is_rejected(
    name: str, tamper: Callable[[ensemble_pb2.EnsembleTx], None]
) -> None:
    chain = _chain()
    query_id = _post(chain)
    chain.block([])
    _answer(chain, query_id, {"val0": AGREE, "val1": AGREE, "val2": AGREE})
    votes = _next_votes(chain)
    txs = chain.prepare(votes)
    assert ensemble.is_ensemble_tx(txs[1]) and chain.process(txs, votes) == ACCEPT
    assert chain.process([txs[0], _edit(txs[1], tamper), *txs[2:]], votes) == REJECT, name


def test_the_ensemble_tx_is_required_exactly_while_a_fast_query_waits() -> None:
    chain = _chain()
    votes = _next_votes(chain)
    idle = chain.prepare(votes)
    assert not any(ensemble.is_ensemble_tx(t) for t in idle)
    forged = ensemble.build_ensemble_tx(chain.app.store.height, 0, [])
    assert chain.process([idle[0], forged], votes) == REJECT  # none is due
    _post(chain)
    votes = _next_votes(chain)
    txs = chain.prepare(votes)
    assert chain.process(txs, votes) == ACCEPT
    assert chain.process([t for t in txs if not ensemble.is_ensemble_tx(t)], votes) == REJECT  # missing
    assert chain.process([txs[1], txs[0], *txs[2:]], votes) == REJECT  # misplaced
    check = chain.abci.check_tx(abci.RequestCheckTx(tx=txs[1]))
    assert check.code != 0 and "cannot be submitted" in check.log
    # A mempool copy is never re-proposed.
    assert [ensemble.is_ensemble_tx(t) for t in chain.prepare(votes, [txs[1]])].count(True) == 1


def test_verify_vote_extension_checks_the_answers_form() -> None:
    chain = _chain()
    query_id = _post(chain)
    height = chain.app.store.height + 1
    share = bls.sign(test_bls_key("val0"), compute_share_message(CHAIN_ID, height))

    def verify(answers: list[tuple[int, bytes]]) -> int:
        ext = voteext.encode_vote_extension(
            share, [ensemble_pb2.EnsembleAnswer(query_id=q, predictions=p) for q, p in answers]
        )
        req = abci.RequestVerifyVoteExtension(
            validator_address=cons_address("val0"), height=height, vote_extension=ext
        )
        return chain.abci.verify_vote_extension(req).status

    ok, bad = abci.ResponseVerifyVoteExtension.ACCEPT, abci.ResponseVerifyVoteExtension.REJECT
    assert verify([]) == ok and verify([(query_id, AGREE)]) == ok
    assert verify([(query_id + 1, AGREE)]) == bad  # not a pending query
    assert verify([(query_id, AGREE[:-3])]) == bad  # one input short
    assert verify([(query_id, encode_predictions([(3, 1), (0, 1), (0, 1)]))]) == bad  # class 3 of 3


def _extension_answers(chain: Chain) -> list[tuple[int, bytes]]:
    resp = chain.abci.extend_vote(abci.RequestExtendVote(height=chain.app.store.height + 1))
    ext = voteext.parse_vote_extension(resp.vote_extension)
    assert ext is not None
    return [(a.query_id, a.predictions) for a in ext.answers]


def _forbid_waiting_and_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every clock wait and file access raise: ExtendVote must need neither."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("ExtendVote waited or touched the disk")

    for target, name in [(time, "sleep"), (os, "stat"), (builtins, "open"), (Path, "read_bytes")]:
        monkeypatch.setattr(target, name, forbidden)
    monkeypatch.setattr(Path, "exists", forbidden)


def test_extend_vote_never_waits_and_answers_once_the_watcher_loaded_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = _chain()
    chain.abci.watcher = AnswerWatcher(tmp_path, chain.abci.answers)
    query_id = _post(chain)  # its Commit tells the book which answers to look for
    with monkeypatch.context() as m:
        _forbid_waiting_and_files(m)
        assert _extension_answers(chain) == []  # a fresh query without an answer: no wait
    (tmp_path / f"{query_id}.bin").write_bytes(AGREE)
    (tmp_path / f"{query_id + 7}.bin").write_bytes(AGREE)  # not pending: never loaded
    assert chain.abci.watcher.poll_once() == 1  # the watcher thread's step, run here
    with monkeypatch.context() as m:
        _forbid_waiting_and_files(m)
        assert _extension_answers(chain) == [(query_id, AGREE)]


def test_the_watcher_skips_a_malformed_answer_and_loads_it_once_fixed(tmp_path: Path) -> None:
    chain = _chain()
    chain.abci.watcher = AnswerWatcher(tmp_path, chain.abci.answers)
    query_id = _post(chain)
    (tmp_path / f"{query_id}.bin").write_bytes(b"junk")  # malformed: left out, never rejected by peers
    assert chain.abci.watcher.poll_once() == 0 and _extension_answers(chain) == []
    (tmp_path / f"{query_id}.bin").write_bytes(AGREE)
    assert chain.abci.watcher.poll_once() == 1 and _extension_answers(chain) == [(query_id, AGREE)]


def _scenario(chain: Chain) -> str:
    query_id = _post(chain)
    chain.block([])
    _answer(chain, query_id, {"val0": AGREE, "val1": DISSENT, "val2": AGREE, "val3": AGREE})
    chain.block([])
    chain.answers = {}
    chain.block([])
    answer = chain.abci.query(
        abci.RequestQuery(
            path="/synod.consensus.v1.Query/Answer",
            data=query_pb2.QueryAnswerRequest(query_id=query_id).SerializeToString(),
        )
    )
    assert answer.code == 0, answer.log
    return chain.app.store.app_hash.hex()


def test_fast_path_is_deterministic_and_pinned(tmp_path: Path) -> None:
    memory = _scenario(_chain())
    leveldb = _scenario(_chain(LevelDBBackend(str(tmp_path / "db"))))
    assert memory == leveldb
    assert memory == GOLDEN_APP_HASH
