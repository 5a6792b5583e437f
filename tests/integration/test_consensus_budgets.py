"""Per-block budgets of the consensus module (README "Budgets", issue 14): pending fast queries,
answers per extension, the ensemble settlement's work, the mandatory txs' bytes, round closes."""

from __future__ import annotations

import hashlib

import pytest

from app.abci.handlers import AbciHandlers
from app.app import GenesisError, SynodApp
from app.core import voteext
from app.modules.committee.beacon import CommitVote
from app.modules.consensus import ensemble
from app.modules.consensus.params import default_params, validate_params
from app.state.backend import MemoryBackend
from synod.consensus.v1 import consensus_pb2, ensemble_pb2
from tendermint.abci import types_pb2 as abci
from tests.integration import test_consensus as oq
from tests.integration import test_ensemble_abci as fq
from tests.integration.harness import CHAIN_ID, Chain, genesis_app_state
from tests.integration.staking_harness import cons_address

SETTLED = consensus_pb2.QUERY_STATUS_SETTLED


def _fast_chain(**params: int) -> Chain:
    """test_ensemble_abci's four validators (three with a model) with these consensus params."""
    chain = Chain(
        backend=MemoryBackend(),
        beacon_keys=fq._chain().beacon_keys,
        beacon_powers=fq.POWER,
        vote_keys={cons_address(n): fq._vote_key(n) for n in fq.VALIDATORS},
    )
    state = fq._app_state()
    state["consensus"]["params"] = params
    chain.init({n: 10**12 for n in (*fq.VALIDATORS, "alice")}, state)
    return chain


# --- finding 1: the fast path -----------------------------------------------------------------------


def test_a_fast_query_beyond_max_pending_fast_queries_is_refused() -> None:
    chain = _fast_chain(max_pending_fast_queries=2)
    fq._post(chain)
    fq._post(chain)
    resp = chain.block([chain.tx("alice", [_post_msg()])])
    result = resp.tx_results[-1]
    assert (result.codespace, result.code) == ("consensus", 25), result.log
    assert "max_pending_fast_queries" in result.log


def _post_msg() -> fq.tx_pb2.MsgPostQuery:
    """The fast query fq._post sends."""
    return fq.tx_pb2.MsgPostQuery(
        poster=fq.test_key("alice").address,
        description="fast",
        input_count=3,
        label_count=3,
        inputs=b"xxx",
        inputs_hash=hashlib.sha256(b"xxx").digest(),
        reward=fq.coin_pb2.Coin(denom=fq.DENOM, amount="9000"),
        label_blocks=5,
        fast=True,
    )


def test_verify_vote_extension_rejects_more_answers_than_max_extension_answers() -> None:
    chain = _fast_chain(max_extension_answers=1)
    first, second = fq._post(chain), fq._post(chain)
    height = chain.app.store.height + 1
    share = fq.bls.sign(fq.test_bls_key("val0"), fq.compute_share_message(CHAIN_ID, height))

    def verify(ids: list[int]) -> int:
        answers = [ensemble_pb2.EnsembleAnswer(query_id=i, predictions=fq.AGREE) for i in ids]
        req = abci.RequestVerifyVoteExtension(
            validator_address=cons_address("val0"),
            height=height,
            vote_extension=voteext.encode_vote_extension(share, answers),
        )
        return chain.abci.verify_vote_extension(req).status

    assert verify([first]) == abci.ResponseVerifyVoteExtension.ACCEPT
    assert verify([first, second]) == abci.ResponseVerifyVoteExtension.REJECT


def test_the_ensemble_settles_pending_queries_within_max_fast_settle_work() -> None:
    # One 3-input query answered by the three models costs 1 + 3 x 3 = 10 units: one per block.
    chain = _fast_chain(max_inputs=3, max_fast_settle_work=10)
    first, second = fq._post(chain), fq._post(chain)
    blobs = {n: fq.AGREE for n in fq.MODELS}
    chain.answers = {cons_address(n): {first: b, second: b} for n, b in blobs.items()}
    chain.block([])
    assert fq._query(chain, first).status == SETTLED
    assert fq._query(chain, second).status == consensus_pb2.QUERY_STATUS_OPEN  # spread, still pending
    chain.block([])  # the validators answer it again
    assert fq._query(chain, second).status == SETTLED


# --- finding 3: the mandatory txs fit the block ------------------------------------------------------


def _vote(i: int, extension_bytes: int) -> CommitVote:
    return CommitVote(bytes([i]) * 20, 1, True, b"\x01" * extension_bytes, b"\x02" * 64)


def test_every_largest_extension_of_max_validators_fits_a_default_cometbft_block() -> None:
    validators = 100  # staking's default max_validators
    votes = [_vote(i, voteext.MAX_VOTE_EXTENSION_BYTES) for i in range(validators)]
    # CometBFT v0.38 defaults: block.max_bytes 22020096, evidence.max_bytes 1048576.
    room = 22_020_096 - 731 - 109 * validators - 1_048_576
    raw = ensemble.build_ensemble_tx(9, 0, votes, room)
    assert len(raw) <= ensemble.compute_ensemble_tx_bound(validators) <= room
    tx = ensemble_pb2.EnsembleTx.FromString(raw[len(ensemble.ENSEMBLE_TX_PREFIX) :])
    assert not any(ensemble.is_omitted(v) for v in tx.votes)  # all carried whole


def test_extensions_that_do_not_fit_are_left_out_largest_first() -> None:
    votes = [_vote(1, 1_000), _vote(2, 30_000), _vote(3, 20_000), _vote(4, 2_000_000)]
    raw = ensemble.build_ensemble_tx(9, 0, votes, 25_000)
    assert len(raw) <= 25_000
    tx = ensemble_pb2.EnsembleTx.FromString(raw[len(ensemble.ENSEMBLE_TX_PREFIX) :])
    assert [ensemble.is_omitted(v) for v in tx.votes] == [False, True, False, True]


def test_an_oversized_late_extension_is_left_out_and_the_proposal_stays_valid() -> None:
    chain = fq._chain()
    query_id = fq._post(chain)
    chain.block([])
    fq._answer(chain, query_id, {"val0": fq.AGREE, "val1": fq.AGREE, "val2": fq.AGREE})
    votes = fq._next_votes(chain)
    # val3's precommit arrived late with a 2 MiB extension nobody verified (cometbft#2361).
    late = next(v for v in votes if v.validator.address == cons_address("val3"))
    late.vote_extension = b"\x0a" * (2 << 20)
    late.extension_signature = fq._vote_key("val3").sign(
        voteext.compute_extension_sign_bytes(CHAIN_ID, chain.app.store.height, 0, late.vote_extension)
    )
    txs = chain.prepare(votes)
    assert sum(map(len, txs)) <= 1 << 20  # the harness's max_tx_bytes
    assert chain.process(txs, votes) == fq.ACCEPT


def test_genesis_refuses_a_block_too_small_for_the_mandatory_txs() -> None:
    def init(max_bytes: int) -> None:
        """InitChain through the ABCI handler, with CometBFT's block and evidence limits."""
        req = abci.RequestInitChain(
            chain_id=CHAIN_ID, app_state_bytes=genesis_app_state({}), initial_height=1
        )
        req.consensus_params.abci.vote_extensions_enable_height = 1
        req.consensus_params.block.max_bytes = max_bytes
        req.consensus_params.evidence.max_bytes = 1_048_576
        AbciHandlers(SynodApp(MemoryBackend())).init_chain(req)

    init(22_020_096)  # CometBFT's default block fits 100 validators' largest extensions
    with pytest.raises(GenesisError, match="max_validators"):
        init(4_000_000)


# --- finding 4: round closes per block ----------------------------------------------------------------

TALLY_PARAMS = {"max_inputs": 4, "max_rounds": 1, "max_query_participants": 2, "max_block_tally_work": 12}


def test_round_closes_beyond_max_block_tally_work_move_to_the_next_block() -> None:
    genesis = oq._genesis()
    genesis["consensus"]["params"] = {**oq.CONSENSUS_GENESIS["params"], **TALLY_PARAMS}
    chain = Chain(beacon_keys={cons_address(n): fq.test_bls_key(n) for n in oq.VALIDATORS})
    chain.init(oq.FUNDS, genesis)
    entries = [(0, 10_000)] * 4
    # Two queries with no communication round, each closing at the same height with 2 participants:
    # 2 x (4 + 0 + 1) = 10 units each, so the second does not fit the 12-unit budget.
    oq.ok(chain, oq.post(chain, rounds=0), oq.post(chain, "bob", rounds=0))
    posted = chain.app.store.height
    pairs = {1: ("carol", "dave"), 2: ("erin", "alice")}
    txs = [
        chain.tx(n, [oq.register_msg(n, 1_000, q), oq.commit_msg(n, 0, entries, q)])
        for q, names in pairs.items()
        for n in names
    ]
    oq.ok(chain, *txs)  # height posted + 1: round 0's commit phase
    oq.ok(
        chain,
        chain.tx("carol", [oq.reveal_msg("carol", 0, entries, 1)]),
        chain.tx("erin", [oq.reveal_msg("erin", 0, entries, 2)]),
    )  # posted + 2: the reveal deadline
    assert oq.query_of(chain, 1).status == SETTLED
    assert oq.query_of(chain, 2).status == consensus_pb2.QUERY_STATUS_OPEN  # deferred, not reopened
    late = oq.run(chain, chain.tx("alice", [oq.reveal_msg("alice", 0, entries, 2)]))  # posted + 3
    assert "ended at height" in oq.code(late[0], 4)
    query = oq.query_of(chain, 2)
    assert query.status == SETTLED and query.settled_height == posted + 3
    assert chain.app.consensus.get_round(chain.app.store.view, 2, 0).height == posted + 3


def test_a_single_query_must_fit_the_tally_budget() -> None:
    params = default_params()
    params.max_block_tally_work = 1_000
    with pytest.raises(ValueError, match="max_block_tally_work"):
        validate_params(params)
