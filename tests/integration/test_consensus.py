"""The consensus module through the ABCI handlers: an open query's rounds, slashing, settlement,
labels and payouts; every rejection with its code; the fast path's keeper and hook functions.

Three genesis validators (v1-v3) run the committee beacon, so every block carries a seed and round
states record it. Invariants (supply, bonded pool, tasks and consensus escrows) run after every block.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.crypto import decode_address
from app.core.events import EventManager
from app.modules.consensus import logic
from app.modules.consensus.hooks import FastVote
from app.modules.consensus.keeper import CONSENSUS_ESCROW
from app.state.backend import LevelDBBackend
from synod.base.v1 import coin_pb2
from synod.consensus.v1 import consensus_pb2, query_pb2, tx_pb2
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import DENOM, Chain, member_json, test_bls_key, test_key
from tests.integration.staking_harness import POWER_REDUCTION, STAKING_PARAMS, cons_address, cons_key

VALIDATORS = ("v1", "v2", "v3")
FUNDS = {n: 10**9 for n in ("alice", "bob", "carol", "dave", "erin")} | dict.fromkeys(VALIDATORS, 10**13)
BONDS = {"v1": 5, "v2": 3, "v3": 2}  # voting powers
GAS = 1_000_000
LABELS = bytes([0, 1, 2, 1])
LABEL_SALT = hashlib.sha256(b"labels").digest()
INPUTS = bytes(range(16))
# v2 starts with an earned reputation; everyone else at the initial 5000.
V2_REPUTATION = 9_000
CONSENSUS_GENESIS = {"params": {"fast_deadline_blocks": 3, "max_inline_bytes": 64}}
# Pinned: a change means the consensus state machine (or a module it uses) or its encodings changed.
GOLDEN_CONSENSUS_APP_HASH = "503b2d83ee3a20232752a6ab663428680ab651a3b38e471b513d1a5ca459afa3"


def _addr(name: str) -> str:
    return test_key(name).address


def _raw(name: str) -> bytes:
    return decode_address(_addr(name))


def _coin(amount: int, denom: str = DENOM) -> coin_pb2.Coin:
    return coin_pb2.Coin(denom=denom, amount=str(amount))


def _genesis() -> dict:
    """Validators v1-v3 on committee duty (the beacon) and v2's consensus reputation."""
    return {
        "staking": {
            "params": {**STAKING_PARAMS, "min_self_bond": "1"},
            "validators": [
                {
                    "operator_address": _addr(n),
                    "consensus_pubkey": base64.b64encode(cons_key(n)).decode(),
                    "moniker": n,
                    "self_bond": str(BONDS[n] * POWER_REDUCTION),
                }
                for n in VALIDATORS
            ],
        },
        "committee": {
            "members": [member_json(_addr(n), cons_address(n), test_bls_key(n)) for n in VALIDATORS]
        },
        "consensus": {
            **CONSENSUS_GENESIS,
            "reputations": [{"address": _addr("v2"), "score_bps": V2_REPUTATION, "observations": 3}],
        },
    }


def _new_chain(backend: LevelDBBackend | None = None) -> Chain:
    keys = {cons_address(n): test_bls_key(n) for n in VALIDATORS}
    # Consensus keys sign the vote extensions: blocks carry an ensemble tx while a fast query waits.
    signers = {cons_address(n): test_key("consensus:" + n) for n in VALIDATORS}
    kw = {"beacon_keys": keys, "vote_keys": signers}
    chain = Chain(backend, **kw) if backend is not None else Chain(**kw)
    chain.init(FUNDS, _genesis())
    return chain


@pytest.fixture
def chain() -> Chain:
    return _new_chain()


# --- driving the chain -----------------------------------------------------------------------------


def run(chain: Chain, *txs: bytes):  # noqa: ANN201
    """One block with txs; returns the results of txs (the beacon tx's result left out)."""
    resp = chain.block(list(txs))
    chain.resync_sequences()
    return list(resp.tx_results[len(resp.tx_results) - len(txs) :])


def ok(chain: Chain, *txs: bytes) -> None:
    """One block in which every tx succeeds."""
    for r in run(chain, *txs):
        assert r.code == 0, r.log


def code(result, expected: int, codespace: str = "consensus") -> str:  # noqa: ANN001
    """Assert a result's (codespace, code); return its log."""
    assert (result.codespace, result.code) == (codespace, expected), result.log
    return result.log


def advance_to(chain: Chain, height: int) -> None:
    """Empty blocks until the next block is height."""
    while chain.app.store.height < height - 1:
        chain.block([])


def post_msg(poster: str = "alice", **overrides: object) -> tx_pb2.MsgPostQuery:
    """A valid open query: 4 inline inputs, 3 classes, one communication round, labels committed."""
    msg = tx_pb2.MsgPostQuery(
        poster=_addr(poster),
        description="four digits",
        input_count=4,
        label_count=3,
        inputs=INPUTS,
        inputs_hash=hashlib.sha256(INPUTS).digest(),
        rounds=1,
        peer_sample=2,
        min_stake=_coin(1_000),
        reward=_coin(1_001),
        commit_blocks=1,
        reveal_blocks=1,
        label_blocks=3,
        labels_commitment=logic.compute_labels_commitment(
            _raw(poster), hashlib.sha256(INPUTS).digest(), LABEL_SALT, LABELS
        ),
    )
    for name, value in overrides.items():
        if isinstance(value, coin_pb2.Coin):
            getattr(msg, name).CopyFrom(value)
        else:
            setattr(msg, name, value)
    return msg


def post(chain: Chain, poster: str = "alice", **overrides: object) -> bytes:
    return chain.tx(poster, [post_msg(poster, **overrides)])


def _salt(name: str, round_: int) -> bytes:
    return hashlib.sha256(f"{name}/{round_}".encode()).digest()


def register_msg(name: str, stake: int, query_id: int = 1, denom: str = DENOM) -> tx_pb2.MsgRegister:
    return tx_pb2.MsgRegister(participant=_addr(name), query_id=query_id, stake=_coin(stake, denom))


def commit_msg(name: str, round_: int, entries: list, query_id: int = 1) -> tx_pb2.MsgCommitPredictions:
    blob = logic.encode_predictions(entries)
    return tx_pb2.MsgCommitPredictions(
        participant=_addr(name),
        query_id=query_id,
        round=round_,
        commitment=logic.compute_commitment(_raw(name), query_id, round_, _salt(name, round_), blob),
    )


def reveal_msg(
    name: str, round_: int, entries: list, query_id: int = 1, **change: object
) -> tx_pb2.MsgRevealPredictions:
    msg = tx_pb2.MsgRevealPredictions(
        participant=_addr(name),
        query_id=query_id,
        round=round_,
        predictions=logic.encode_predictions(entries),
        salt=_salt(name, round_),
    )
    for field, value in change.items():
        setattr(msg, field, value)
    return msg


def labels_msg(poster: str = "alice", labels: bytes = LABELS, salt: bytes = LABEL_SALT, query_id: int = 1):  # noqa: ANN201
    return tx_pb2.MsgRevealLabels(poster=_addr(poster), query_id=query_id, labels=labels, salt=salt)


_METHODS = {
    "/consensus/query": "Query",
    "/consensus/round": "Round",
    "/consensus/answer": "Answer",
    "/consensus/peers": "Peers",
    "/consensus/participants": "Participants",
    "/consensus/reputation": "Reputation",
    "/consensus/params": "Params",
    "/consensus/models": "Models",
    "/consensus/pending": "Pending",
}


def raw_query(chain: Chain, path: str, request):  # noqa: ANN001, ANN201
    """The ABCI answer to a consensus query named by its old route (success or not)."""
    service_path = f"/synod.consensus.v1.Query/{_METHODS[path]}"
    return chain.abci.query(abci.RequestQuery(path=service_path, data=request.SerializeToString()))


def ask(chain: Chain, path: str, request, response_cls):  # noqa: ANN001, ANN201
    """An ABCI query that must succeed."""
    result = raw_query(chain, path, request)
    assert result.code == 0, result.log
    return response_cls.FromString(result.value)


def query_of(chain: Chain, query_id: int = 1) -> consensus_pb2.PredictionQuery:
    return chain.app.consensus.require_query(chain.app.store.view, query_id)


def participant(chain: Chain, name: str, query_id: int = 1) -> consensus_pb2.Participant:
    p = chain.app.consensus.get_participant(chain.app.store.view, query_id, _raw(name))
    assert p is not None
    return p


def escrow(chain: Chain) -> dict[str, int]:
    return dict(
        chain.app.bank.get_all_balances(chain.app.store.view, chain.app.bank.module_account(CONSENSUS_ESCROW))
    )


def supply(chain: Chain) -> int:
    return chain.app.bank.get_supply(chain.app.store.view, DENOM)


# --- an open query from post to labels -------------------------------------------------------------

STAKES = {"bob": 1_000, "carol": 2_000, "dave": 1_500}
ROUND0 = {
    "bob": [(0, 10_000), (1, 10_000), (2, 10_000), (0, 10_000)],
    "carol": [(0, 10_000), (1, 10_000), (1, 10_000), (1, 5_000)],
    "dave": [(2, 10_000), (2, 10_000), (2, 10_000), (2, 10_000)],  # committed, never revealed
}
ROUND1 = {
    "bob": [(0, 10_000), (1, 10_000), (2, 10_000), (1, 10_000)],  # revises input 3
    "dave": [(0, 10_000), (1, 10_000), (2, 10_000), (2, 3_000)],
}


def _lifecycle(chain: Chain) -> dict:
    """Post, three registrations, round 0 (dave withholds), round 1 (carol skips), labels."""
    out: dict = {"supply": supply(chain)}
    ok(chain, post(chain))
    q = query_of(chain)
    out["posted"] = q.posted_height
    ok(chain, *[chain.tx(n, [register_msg(n, STAKES[n]), commit_msg(n, 0, ROUND0[n])]) for n in STAKES])
    resp = chain.block([chain.tx(n, [reveal_msg(n, 0, ROUND0[n])]) for n in ("bob", "carol")])
    chain.resync_sequences()
    assert all(r.code == 0 for r in resp.tx_results), [r.log for r in resp.tx_results]
    out["round0_events"] = {e.type: {a.key: a.value for a in e.attributes} for e in resp.events}
    out["seed0"] = chain.app.committee.get_seed(chain.app.store.view).seed
    out["supply_after_round0"] = supply(chain)
    ok(chain, *[chain.tx(n, [commit_msg(n, 1, ROUND1[n])]) for n in ROUND1])
    ok(chain, *[chain.tx(n, [reveal_msg(n, 1, ROUND1[n])]) for n in ROUND1])
    assert query_of(chain).status == consensus_pb2.QUERY_STATUS_SETTLED
    ok(chain, chain.tx("alice", [labels_msg()], gas=GAS))
    return out


def test_an_open_query_settles_on_revised_predictions_slashes_withholders_and_pays_by_labels(
    chain: Chain,
) -> None:
    before = {n: chain.balance(_addr(n)) for n in FUNDS}
    out = _lifecycle(chain)
    view = chain.app.store.view
    k = chain.app.consensus
    q = query_of(chain)
    s = q.schedule
    assert (s.start_height, q.settled_height) == (out["posted"] + 1, out["posted"] + 4)
    assert q.status == consensus_pb2.QUERY_STATUS_CLOSED

    # dave committed in round 0 and never revealed: 10% of his stake burnt, and only that.
    slash = STAKES["dave"] * 1_000 // 10_000
    assert participant(chain, "dave").slashed == str(slash) and participant(chain, "dave").missed_reveals == 1
    assert out["supply"] - out["supply_after_round0"] == slash
    # Plus the 1 of the reward that correctness and agreement left (floored shares): burnt.
    assert out["supply"] - supply(chain) == slash + 1
    assert out["round0_events"]["participant_slashed"] == {
        "query_id": "1",
        "participant": _addr("dave"),
        "reason": "missed_reveal",
        "burned": f"{slash}{DENOM}",
    }
    assert out["round0_events"]["round_closed"]["missed"] == "1"

    # Round 0's view: input 3 is a tie (bob 1000 x 10000 on 0, carol 2000 x 5000 on 1): class 0.
    round0 = k.get_round(view, 1, 0)
    assert [(t.answer, t.support_bps) for t in round0.tallies] == [
        (0, 10_000),
        (1, 10_000),
        (1, 6_666),
        (0, 5_000),
    ]
    assert list(round0.revealed) == sorted([_addr("bob"), _addr("carol")], key=decode_address)
    assert round0.seed == out["seed0"] and len(round0.seed) == 32

    # Settlement on the latest reveals: bob's revision moves input 3 to class 1.
    settlement = k.get_settlement(view, 1)
    answers = [(t.answer, t.support_bps) for t in settlement.tallies]
    assert answers == [(0, 10_000), (1, 10_000), (2, 25 * 10_000 // 45), (1, 20_000 * 10_000 // 24_500)]
    assert settlement.answers == logic.encode_predictions(answers)
    assert settlement.round == 1 and settlement.height == q.settled_height
    assert list(settlement.voters) == sorted((_addr(n) for n in STAKES), key=decode_address)
    unrevised = logic.compute_tally(
        4,
        3,
        [
            (STAKES[n] * 5_000, e)
            for n, e in (("bob", ROUND0["bob"]), ("carol", ROUND0["carol"]), ("dave", ROUND1["dave"]))
        ],
    )
    assert unrevised[3].answer == 0  # without the revision the settled answer would differ
    assert settlement.labels_revealed and settlement.labels == LABELS and settlement.accuracy_bps == 10_000

    # Labels: bob 4 correct, carol 3 (her round-0 input 2), dave 3 (his input 3).
    correct = {"bob": 4, "carol": 3, "dave": 3}
    shares = {n: 1_001 * c // 10 for n, c in correct.items()}
    assert shares == {"bob": 400, "carol": 300, "dave": 300}
    for name in STAKES:
        p = participant(chain, name)
        assert (p.correct, p.reward, p.reputation_bps) == (correct[name], str(shares[name]), 5_000)
        expected = before[name] - chain.fees_paid[name] + shares[name] - (slash if name == "dave" else 0)
        assert chain.balance(_addr(name)) == expected
        rep = k.get_reputation(view, _raw(name))
        assert rep.observations == 1
        assert rep.score_bps == logic.compute_reputation(5_000, correct[name] * 10_000 // 4, 8)
    assert k.get_reputation(view, _raw("bob")).score_bps == 5_625
    assert k.get_reputation(view, _raw("carol")).score_bps == 5_312
    # The remainder (1) is burnt, not returned to alice; nothing is left in escrow.
    assert chain.balance(_addr("alice")) == before["alice"] - chain.fees_paid["alice"] - 1_001
    assert escrow(chain) == {}


def test_queries_show_phases_rounds_peers_and_answers(chain: Chain) -> None:
    ok(chain, post(chain))
    posted = query_of(chain).posted_height
    resp = ask(
        chain, "/consensus/query", query_pb2.QueryQueryRequest(query_id=1), query_pb2.QueryQueryResponse
    )
    assert (resp.phase, resp.round, resp.phase_end_height) == ("commit", 0, posted + 1)
    ok(chain, *[chain.tx(n, [register_msg(n, STAKES[n]), commit_msg(n, 0, ROUND0[n])]) for n in STAKES])
    resp = ask(
        chain, "/consensus/query", query_pb2.QueryQueryRequest(query_id=1), query_pb2.QueryQueryResponse
    )
    assert (resp.phase, resp.round, resp.phase_end_height) == ("reveal", 0, posted + 2)
    result = raw_query(chain, "/consensus/round", query_pb2.QueryRoundRequest(query_id=1, round=0))
    code(result, 22)
    result = raw_query(chain, "/consensus/answer", query_pb2.QueryAnswerRequest(query_id=1))
    code(result, 21)
    ok(chain, *[chain.tx(n, [reveal_msg(n, 0, ROUND0[n])]) for n in ("bob", "carol")])
    rnd = ask(
        chain,
        "/consensus/round",
        query_pb2.QueryRoundRequest(query_id=1, round=0),
        query_pb2.QueryRoundResponse,
    )
    assert sorted(c.participant for c in rnd.reveals) == sorted([_addr("bob"), _addr("carol")])
    assert all(c.revealed and c.predictions for c in rnd.reveals)
    # bob sees carol (the only other revealer); dave, who withheld, sees both (peer_sample 2).
    for name, expected in (("bob", ["carol"]), ("dave", ["bob", "carol"])):
        peers = ask(
            chain,
            "/consensus/peers",
            query_pb2.QueryPeersRequest(query_id=1, round=0, participant=_addr(name)),
            query_pb2.QueryPeersResponse,
        ).peers
        assert sorted(p.participant for p in peers) == sorted(_addr(n) for n in expected)
        assert {p.participant: p.predictions for p in peers} == {
            _addr(n): logic.encode_predictions(ROUND0[n]) for n in expected
        }
        drawn = logic.compute_peers(rnd.state.seed, 1, 0, _raw(name), [_raw("bob"), _raw("carol")], 2)
        assert [decode_address(p.participant) for p in peers] == drawn
    parts = ask(
        chain,
        "/consensus/participants",
        query_pb2.QueryParticipantsRequest(query_id=1),
        query_pb2.QueryParticipantsResponse,
    ).participants
    assert sorted(p.address for p in parts) == sorted(_addr(n) for n in STAKES)
    rep = ask(
        chain,
        "/consensus/reputation",
        query_pb2.QueryReputationRequest(address=_addr("v2")),
        query_pb2.QueryReputationResponse,
    ).reputation
    assert (rep.score_bps, rep.observations) == (V2_REPUTATION, 3)
    rep = ask(
        chain,
        "/consensus/reputation",
        query_pb2.QueryReputationRequest(address=_addr("erin")),
        query_pb2.QueryReputationResponse,
    ).reputation
    assert (rep.address, rep.score_bps, rep.observations) == (_addr("erin"), 5_000, 0)
    params = ask(
        chain, "/consensus/params", query_pb2.QueryParamsRequest(), query_pb2.QueryParamsResponse
    ).params
    assert (params.fast_deadline_blocks, params.max_inline_bytes, params.max_inputs) == (3, 64, 512)
    code(raw_query(chain, "/consensus/query", query_pb2.QueryQueryRequest(query_id=9)), 3)
    bad = query_pb2.QueryReputationRequest(address="synod1nope")
    code(raw_query(chain, "/consensus/reputation", bad), 7, "sdk")


def test_the_lifecycle_is_deterministic_across_backends_and_matches_the_golden_hash(tmp_path: Path) -> None:
    memory = _new_chain()
    _lifecycle(memory)
    backend = LevelDBBackend(str(tmp_path / "db"))
    try:
        leveldb = _new_chain(backend)
        _lifecycle(leveldb)
        assert memory.app.store.app_hash == leveldb.app.store.app_hash
    finally:
        backend.close()
    assert memory.app.store.app_hash.hex() == GOLDEN_CONSENSUS_APP_HASH


def test_without_labels_the_deadline_pays_by_agreement_and_keeps_reputations(chain: Chain) -> None:
    before = {n: chain.balance(_addr(n)) for n in ("alice", "bob", "carol")}
    ok(chain, post(chain, rounds=0, label_blocks=2))
    bob = [(0, 10_000), (1, 10_000), (2, 10_000), (0, 10_000)]
    carol = [(0, 10_000), (1, 10_000), (1, 10_000), (1, 10_000)]
    ok(
        chain,
        chain.tx("bob", [register_msg("bob", 1_000), commit_msg("bob", 0, bob)]),
        chain.tx("carol", [register_msg("carol", 3_000), commit_msg("carol", 0, carol)]),
    )
    ok(
        chain,
        chain.tx("bob", [reveal_msg("bob", 0, bob)]),
        chain.tx("carol", [reveal_msg("carol", 0, carol)]),
    )
    q = query_of(chain)
    assert q.status == consensus_pb2.QUERY_STATUS_SETTLED
    resp = ask(
        chain, "/consensus/query", query_pb2.QueryQueryRequest(query_id=1), query_pb2.QueryQueryResponse
    )
    assert (resp.phase, resp.phase_end_height) == ("settled", q.settled_height + 2)
    answer = ask(
        chain, "/consensus/answer", query_pb2.QueryAnswerRequest(query_id=1), query_pb2.QueryAnswerResponse
    )
    assert [t.answer for t in answer.settlement.tallies] == [0, 1, 1, 1]
    # Rejections while settled: not the poster, malformed labels, the wrong salt.
    results = run(
        chain,
        chain.tx("bob", [labels_msg("bob")], gas=GAS),
        chain.tx("alice", [labels_msg(labels=LABELS[:3])], gas=GAS),
        chain.tx("alice", [labels_msg(labels=bytes([0, 1, 3, 1]))], gas=GAS),
        chain.tx("alice", [labels_msg(salt=b"\x00" * 32)], gas=GAS),
    )
    code(results[0], 15)
    assert "4 bytes" in code(results[1], 16)
    assert "below 3" in code(results[2], 16)
    code(results[3], 17)
    advance_to(chain, q.settled_height + 3)  # the deadline's end-block has run
    assert query_of(chain).status == consensus_pb2.QUERY_STATUS_CLOSED
    code(run(chain, chain.tx("alice", [labels_msg()], gas=GAS))[0], 4)
    # Agreement with [0, 1, 1, 1]: bob 2 inputs, carol 4; reputations untouched.
    shares = {"bob": 1_001 * 2 // 6, "carol": 1_001 * 4 // 6}
    for name in ("bob", "carol"):
        assert chain.balance(_addr(name)) == before[name] - chain.fees_paid[name] + shares[name]
        assert participant(chain, name).reward == str(shares[name]) and participant(chain, name).correct == 0
        assert chain.app.consensus.get_reputation(chain.app.store.view, _raw(name)) is None
    # The remainder is burnt: a poster that received answers gets nothing back.
    assert chain.balance(_addr("alice")) == before["alice"] - chain.fees_paid["alice"] - 1_001
    assert not chain.app.consensus.get_settlement(chain.app.store.view, 1).labels_revealed
    assert escrow(chain) == {}


def test_a_query_nobody_registers_for_is_refunded_after_round_zero(chain: Chain) -> None:
    before = chain.balance(_addr("alice"))
    ok(chain, post(chain))
    advance_to(chain, query_of(chain).posted_height + 3)
    assert query_of(chain).status == consensus_pb2.QUERY_STATUS_CLOSED
    assert chain.balance(_addr("alice")) == before - chain.fees_paid["alice"]
    resp = ask(
        chain, "/consensus/query", query_pb2.QueryQueryRequest(query_id=1), query_pb2.QueryQueryResponse
    )
    assert resp.phase == "closed"
    code(raw_query(chain, "/consensus/answer", query_pb2.QueryAnswerRequest(query_id=1)), 21)


def test_rounds_close_as_soon_as_every_participant_is_done(chain: Chain) -> None:
    # Phases of 6 blocks; registration closes when max_participants have registered.
    names = ("bob", "carol")
    ok(chain, post(chain, commit_blocks=6, reveal_blocks=6, max_participants=2))
    start = query_of(chain).schedule.start_height
    plan = [(0, ROUND0), (1, ROUND1 | {"carol": ROUND0["carol"]})]
    for round_, entries in plan:
        msgs = {n: [commit_msg(n, round_, entries[n])] for n in names}
        if round_ == 0:
            msgs = {n: [register_msg(n, STAKES[n]), *m] for n, m in msgs.items()}
        ok(chain, *[chain.tx(n, m) for n, m in msgs.items()])  # both committed: the commit phase ends
        assert (query_of(chain).phase, query_of(chain).round) == (consensus_pb2.QUERY_PHASE_REVEAL, round_)
        ok(chain, *[chain.tx(n, [reveal_msg(n, round_, entries[n])]) for n in names])  # the round ends
    q = query_of(chain)
    # Four blocks where the deadlines alone would take 4 x 6 = 24.
    assert q.status == consensus_pb2.QUERY_STATUS_SETTLED and q.settled_height == start + 3
    assert chain.app.consensus.get_progress(chain.app.store.view, 1) == consensus_pb2.QueryProgress()


def test_round_zero_stays_open_for_registrations_without_a_participant_cap(chain: Chain) -> None:
    ok(chain, post(chain, commit_blocks=4, reveal_blocks=4))
    start = query_of(chain).schedule.start_height
    ok(chain, chain.tx("bob", [register_msg("bob", 1_000), commit_msg("bob", 0, ROUND0["bob"])]))
    assert query_of(chain).phase == consensus_pb2.QUERY_PHASE_COMMIT  # others may still register
    advance_to(chain, start + 3)
    ok(chain, chain.tx("carol", [register_msg("carol", 2_000), commit_msg("carol", 0, ROUND0["carol"])]))
    q = query_of(chain)  # the deadline closed it
    assert (q.phase, q.phase_start_height) == (consensus_pb2.QUERY_PHASE_REVEAL, start + 4)


# --- rejections -----------------------------------------------------------------------------------


def test_impossible_queries_are_rejected_with_the_reason(chain: Chain) -> None:
    cases: list[tuple[dict, str]] = [
        ({"input_count": 0}, "input_count must be at least 1"),
        ({"input_count": 513}, "input_count must be at most 512"),
        ({"label_count": 1}, "label_count must be between 2 and 256"),
        ({"label_count": 257}, "label_count must be between 2 and 256"),
        ({"inputs_hash": b"\x00" * 32}, "inputs_hash must be SHA-256 of inputs"),
        ({"inputs": b"", "inputs_hash": b"\x00" * 32}, "inputs_uri must be"),
        ({"inputs": b"", "inputs_uri": "synod:digits", "inputs_hash": b"\x00" * 31}, "32-byte"),
        ({"inputs_uri": "synod:digits"}, "not both"),
        ({"inputs": bytes(65), "inputs_hash": hashlib.sha256(bytes(65)).digest()}, "the limit is 64"),
        ({"rounds": 9}, "rounds must be at most 8"),
        ({"peer_sample": 17}, "peer_sample must be at most 16"),
        ({"labels_commitment": b"\x01" * 5}, "labels_commitment"),
        ({"label_blocks": 0}, "label_blocks >= 1"),
        ({"reward": _coin(0)}, "reward"),
        ({"commit_blocks": 0}, "commit_blocks"),
        ({"reveal_blocks": 0}, "reveal_blocks"),
        ({"min_stake": _coin(0)}, "min_stake"),
        ({"fast": True}, "rounds to 0"),
        ({"description": "x" * 513}, "description"),
    ]
    for overrides, reason in cases:
        log = code(run(chain, post(chain, **overrides))[0], 2)
        assert reason in log, (overrides, log)
    code(run(chain, post(chain, reward=_coin(10**12)))[0], 5, "sdk")  # alice cannot fund it
    assert chain.app.consensus.get_query(chain.app.store.view, 1) is None
    assert escrow(chain) == {}


def test_registration_is_limited_to_round_zeros_commit_phase_the_minimum_and_max_participants(
    chain: Chain,
) -> None:
    ok(chain, post(chain, max_participants=2))
    results = run(
        chain,
        chain.tx("bob", [register_msg("bob", 1_000)]),
        chain.tx("bob", [register_msg("bob", 1_000)]),
        chain.tx("carol", [register_msg("carol", 999)]),
        chain.tx("carol", [register_msg("carol", 5_000, denom="uother")]),
        chain.tx("carol", [register_msg("carol", 2_000)]),
        chain.tx("dave", [register_msg("dave", 2_000)]),
        chain.tx("dave", [register_msg("dave", 2_000, query_id=7)]),
        chain.tx("erin", [register_msg("erin", 0)]),  # refused before the query is read (no fee)
    )
    for result, expected in zip(results, (0, 7, 14, 14, 0, 6, 3, 14), strict=True):
        code(result, expected, "consensus" if expected else "")
    code(run(chain, chain.tx("erin", [register_msg("erin", 2_000)]))[0], 4)  # commit phase over
    assert escrow(chain) == {DENOM: 1_001 + 1_000 + 2_000}


def test_commits_and_reveals_outside_their_rules_are_rejected(chain: Chain) -> None:
    ok(chain, post(chain, commit_blocks=2, reveal_blocks=2))
    good = ROUND0["bob"]
    ok(
        chain,
        chain.tx("bob", [register_msg("bob", 1_000), commit_msg("bob", 0, good)]),
        chain.tx("carol", [register_msg("carol", 1_000)]),
    )
    short = commit_msg("carol", 0, good)
    short.commitment = b"\x00" * 31
    results = run(
        chain,
        chain.tx("bob", [commit_msg("bob", 0, good)]),  # twice
        chain.tx("erin", [commit_msg("erin", 0, good)]),  # not registered
        chain.tx("carol", [commit_msg("carol", 1, good)]),  # wrong round
        chain.tx("bob", [reveal_msg("bob", 0, good)]),  # reveal during commit
        chain.tx("carol", [commit_msg("carol", 0, good, query_id=5)]),  # no such query
        # Stateless failures come last: they charge no fee and bump no sequence.
        chain.tx("carol", [short]),  # 31 bytes
    )
    for result, expected in zip(results, (9, 8, 5, 4, 3, 23), strict=True):
        code(result, expected)
    other = logic.encode_predictions(ROUND0["carol"])
    results = run(
        chain,
        chain.tx("carol", [register_msg("carol", 1_000)]),  # registration closed
        chain.tx("carol", [commit_msg("carol", 0, good)]),  # commit during reveal
        chain.tx("carol", [reveal_msg("carol", 0, good)]),  # nothing committed
        chain.tx("bob", [reveal_msg("bob", 0, good, predictions=other)]),  # not what was committed
        chain.tx("bob", [reveal_msg("bob", 0, good, predictions=bytes(11))]),  # malformed
        chain.tx(
            "bob", [reveal_msg("bob", 0, good, predictions=bytes([0, 0, 0] * 3 + [3, 0, 0]))]
        ),  # class 3
        chain.tx("bob", [reveal_msg("bob", 0, good)]),
        chain.tx("bob", [reveal_msg("bob", 0, good)]),  # twice
        chain.tx("bob", [reveal_msg("bob", 0, good, salt=b"\x00" * 5)]),  # salt not 32 bytes
    )
    for result, expected in zip(results, (4, 4, 10, 12, 13, 13, 0, 11, 23), strict=True):
        code(result, expected, "consensus" if expected else "")
    assert "expected 12" in results[4].log and "class 3" in results[5].log
    code(run(chain, chain.tx("alice", [labels_msg()], gas=GAS))[0], 4)  # not settled yet


# --- the fast path ---------------------------------------------------------------------------------


def _settle_in_next_block(chain: Chain, query_id: int, votes: list[FastVote]) -> list[bool]:
    """Run one block whose end-block first calls settle_fast, as the ensemble's block would."""
    hooks = chain.app.consensus_hooks
    original: Callable = hooks.process_end_block
    outcome: list[bool] = []

    def end_block(store, height: int, events: EventManager) -> None:  # noqa: ANN001
        query = chain.app.consensus.require_query(store, query_id)
        outcome.append(hooks.settle_fast(store, query, votes, height, events))
        original(store, height, events)

    hooks.process_end_block = end_block  # type: ignore[method-assign]
    try:
        ok(chain)
    finally:
        del hooks.process_end_block
    return outcome


def test_validators_register_models_and_settle_fast_queries_by_power_and_reputation(chain: Chain) -> None:
    results = run(
        chain,
        chain.tx("v1", [tx_pb2.MsgRegisterModel(operator=_addr("v1"), model="mlp:64 digits")]),
        chain.tx("v2", [tx_pb2.MsgRegisterModel(operator=_addr("v2"), model="logreg digits")]),
        chain.tx("bob", [tx_pb2.MsgRegisterModel(operator=_addr("bob"), model="mine")]),
        chain.tx("v3", [tx_pb2.MsgRegisterModel(operator=_addr("v3"), model="")]),
        chain.tx("v3", [tx_pb2.MsgRegisterModel(operator=_addr("v3"), model="x" * 257)]),
    )
    code(results[0], 0, "")
    code(results[1], 0, "")
    code(results[2], 19)
    code(results[3], 20)
    code(results[4], 24)
    view = chain.app.store.view
    models = chain.app.consensus.iterate_models(view)
    assert [(op, m.model) for op, m in models] == sorted(
        [(_raw("v1"), "mlp:64 digits"), (_raw("v2"), "logreg digits")]
    )
    assert chain.app.consensus.get_model(view, _raw("v2")).operator == _addr("v2")
    assert chain.app.consensus.get_model(view, _raw("v3")) is None
    listed = ask(
        chain, "/consensus/models", query_pb2.QueryModelsRequest(), query_pb2.QueryModelsResponse
    ).models
    assert sorted(m.operator for m in listed) == sorted([_addr("v1"), _addr("v2")])

    before = {n: chain.balance(_addr(n)) for n in ("alice", "v1", "v2", "v3")}
    paid = dict(chain.fees_paid)
    labels = bytes([0, 1, 1])
    fast = {"input_count": 3, "label_count": 2, "rounds": 0, "fast": True, "label_blocks": 4}
    commitment = logic.compute_labels_commitment(
        _raw("alice"), hashlib.sha256(INPUTS).digest(), LABEL_SALT, labels
    )
    ok(chain, post(chain, labels_commitment=commitment, **fast))
    posted = query_of(chain).posted_height
    pending = chain.app.consensus.iterate_pending_fast(chain.app.store.view)
    assert [q.id for q in pending] == [1]
    assert chain.app.consensus.iterate_pending_fast(chain.app.store.view, before_height=posted) == []
    listed = ask(
        chain, "/consensus/pending", query_pb2.QueryPendingRequest(), query_pb2.QueryPendingResponse
    ).queries
    assert [q.id for q in listed] == [1]
    resp = ask(
        chain, "/consensus/query", query_pb2.QueryQueryRequest(query_id=1), query_pb2.QueryQueryResponse
    )
    assert (resp.phase, resp.phase_end_height) == ("pending", posted + 3)
    results = run(
        chain,
        chain.tx("bob", [register_msg("bob", 1_000)]),
        chain.tx("bob", [commit_msg("bob", 0, [(0, 1)] * 3)]),
        chain.tx("bob", [reveal_msg("bob", 0, [(0, 1)] * 3)]),
    )
    for result in results:
        code(result, 18)

    v1 = [(0, 10_000), (1, 10_000), (1, 10_000)]
    v2 = [(0, 10_000), (0, 10_000), (0, 10_000)]
    votes: list[FastVote] = [
        (_raw("v2"), 3, logic.encode_predictions(v2)),
        (_raw("v1"), 5, logic.encode_predictions(v1)),
        (_raw("v1"), 5, logic.encode_predictions(v2)),  # a second vote of v1: ignored
        (_raw("v3"), 0, logic.encode_predictions(v1)),  # no power: ignored
        (_raw("carol"), 4, b"\x00" * 4),  # malformed: ignored
    ]
    assert _settle_in_next_block(chain, 1, votes) == [True]
    view = chain.app.store.view
    q = query_of(chain)
    assert q.status == consensus_pb2.QUERY_STATUS_SETTLED and q.settled_height == posted + 2
    assert chain.app.consensus.iterate_pending_fast(view) == []
    # v1: 5 x 5000 = 25000 per bps on class 1; v2: 3 x 9000 = 27000 on class 0: v2's reputation wins.
    settlement = chain.app.consensus.get_settlement(view, 1)
    assert [(t.answer, t.support_bps) for t in settlement.tallies] == [(0, 10_000), (0, 5_192), (0, 5_192)]
    assert list(settlement.voters) == sorted([_addr("v1"), _addr("v2")], key=decode_address)
    assert settlement.round == 0
    # Paid at once by agreement: v1 matches 1 input, v2 all 3.
    shares = {"v1": 1_001 * 1 // 4, "v2": 1_001 * 3 // 4}
    for name, share in shares.items():
        assert chain.balance(_addr(name)) == before[name] + share
        assert participant(chain, name).reward == str(share)
    assert chain.balance(_addr("v3")) == before["v3"]
    alice = before["alice"] - (chain.fees_paid["alice"] - paid.get("alice", 0)) - 1_001  # remainder burnt
    assert chain.balance(_addr("alice")) == alice
    assert escrow(chain) == {}

    # Labels within label_blocks move the validators' reputations; nothing is paid twice.
    ok(chain, chain.tx("alice", [labels_msg(labels=labels)], gas=GAS))
    view = chain.app.store.view
    assert query_of(chain).status == consensus_pb2.QUERY_STATUS_CLOSED
    assert chain.app.consensus.get_settlement(view, 1).accuracy_bps == 3_333
    assert chain.app.consensus.get_reputation(view, _raw("v1")).score_bps == (5_000 * 7 + 10_000) // 8
    v2_rep = chain.app.consensus.get_reputation(view, _raw("v2"))
    assert (v2_rep.score_bps, v2_rep.observations) == ((V2_REPUTATION * 7 + 3_333) // 8, 4)
    assert chain.balance(_addr("alice")) == alice - GAS
    assert chain.balance(_addr("v2")) == before["v2"] + shares["v2"]


def test_an_unanswered_fast_query_expires_and_is_refunded(chain: Chain) -> None:
    before = chain.balance(_addr("alice"))
    ok(chain, post(chain, rounds=0, fast=True))
    posted = query_of(chain).posted_height
    # settle_fast changes nothing without a counted vote, or for a query that is not pending.
    store = chain.app.store.branch()
    query = query_of(chain)
    events = EventManager()
    hooks = chain.app.consensus_hooks
    assert not hooks.settle_fast(store, query, [(_raw("v1"), 5, b"\x01")], posted + 1, events)
    assert not hooks.settle_fast(store, query, [], posted + 1, events)
    open_query = consensus_pb2.PredictionQuery()
    open_query.CopyFrom(query)
    open_query.fast = False
    assert not hooks.settle_fast(store, open_query, [(_raw("v1"), 5, bytes(12))], posted + 1, events)
    assert events.events == [] and chain.app.consensus.get_query(store, 1) == query
    advance_to(chain, posted + 3)
    assert query_of(chain).status == consensus_pb2.QUERY_STATUS_OPEN
    ok(chain)  # the end-block of posted + fast_deadline_blocks
    assert query_of(chain).status == consensus_pb2.QUERY_STATUS_EXPIRED
    assert chain.app.consensus.iterate_pending_fast(chain.app.store.view) == []
    assert chain.balance(_addr("alice")) == before - chain.fees_paid["alice"]
    resp = ask(
        chain, "/consensus/query", query_pb2.QueryQueryRequest(query_id=1), query_pb2.QueryQueryResponse
    )
    assert resp.phase == "expired"
    assert escrow(chain) == {}
