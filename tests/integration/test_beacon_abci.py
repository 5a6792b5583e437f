"""The randomness beacon through the ABCI handlers: ExtendVote, VerifyVoteExtension, PrepareProposal,
ProcessProposal, FinalizeBlock and CheckTx, on a chain of four genesis validators on committee duty."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.abci.handlers import AbciHandlers
from app.core import bls
from app.core.crypto import address_bytes_from_pubkey
from app.modules.committee import beacon
from app.modules.committee import keys as committee_keys
from app.state.backend import Backend, LevelDBBackend, MemoryBackend
from synod.committee.v1 import beacon_pb2, committee_pb2
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import CHAIN_ID, Chain, beacon_votes, test_bls_key, test_key
from tests.integration.staking_harness import cons_address, cons_key, validators_on_duty

VALIDATORS = ("val0", "val1", "val2", "val3")
SELF_BOND = 10_000_000  # 10 power each at the harness's power reduction
KEYS = {cons_address(n): test_bls_key(n) for n in VALIDATORS}
SEED_KEY = committee_keys.STORE_PREFIX + committee_keys.SEED
ACCEPT, REJECT = abci.ResponseProcessProposal.ACCEPT, abci.ResponseProcessProposal.REJECT
# Pinned: the app hash after block 5 of test_app_hash_is_pinned_and_deterministic (extensions on from 1).
GOLDEN_APP_HASH = "682a4633a4ed3c926dc5a0e37f8c0762052df5ec53045e4f81f166c0dee28583"


def _app_state() -> dict:
    """Four bonded genesis validators, each a committee member with its test BLS key."""
    return validators_on_duty(VALIDATORS, SELF_BOND)


def _chain(backend: Backend | None = None) -> Chain:
    """Genesis plus block 1 (no beacon: nothing was voted before it)."""
    chain = Chain(backend=backend or MemoryBackend(), beacon_keys=KEYS)
    chain.init({n: 10**12 for n in VALIDATORS}, _app_state())
    return chain


def _seed(chain: Chain) -> committee_pb2.Seed:
    """The latest beacon output through the raw /store query (committed state)."""
    answer = chain.abci.query(abci.RequestQuery(path="/store", data=SEED_KEY))
    assert answer.code == 0 and answer.value, answer.log
    return committee_pb2.Seed.FromString(answer.value)


def _commit(votes: list[abci.ExtendedVoteInfo]) -> abci.CommitInfo:
    """The proposed/decided last commit that matches an extended one."""
    return abci.CommitInfo(
        votes=[abci.VoteInfo(validator=v.validator, block_id_flag=v.block_id_flag) for v in votes]
    )


def _with_entries(raw: bytes, pick: Callable[[list[beacon_pb2.BeaconEntry]], list]) -> bytes:
    """The beacon tx with its entries replaced by pick(entries)."""
    tx = beacon.decode_beacon_tx(raw)
    entries = pick(list(tx.entries))
    return beacon.encode_beacon_tx(beacon_pb2.BeaconTx(vote_height=tx.vote_height, entries=entries))


def _missed(chain: Chain, name: str) -> int:
    """The validator's missed-block counter."""
    info = chain.app.slashing.get_signing_info(chain.app.store.view, cons_address(name))
    return info.missed_blocks_counter if info else 0


def test_honest_blocks_store_a_new_seed_every_block() -> None:
    chain = _chain()
    seeds = []
    for _ in range(3):
        resp = chain.block([chain.send("val0", test_key("bob").address, 5)])
        assert len(resp.tx_results) == 2  # the beacon tx has its own result
        first = resp.tx_results[0]
        assert first.code == 0 and first.events[0].type == "beacon"
        assert resp.tx_results[1].code == 0
        seed = _seed(chain)
        assert (seed.height, seed.vote_height, seed.shares) == (chain.app.store.height, seed.height - 1, 4)
        seeds.append(seed.seed)
    assert len(set(seeds)) == 3
    assert all(_missed(chain, n) == 0 for n in VALIDATORS)


def test_vote_extensions_carry_and_require_the_members_share() -> None:
    chain = _chain()
    node = AbciHandlers(chain.app, bls_secret=test_bls_key("val0"))
    height = chain.app.store.height + 1
    ext = node.extend_vote(abci.RequestExtendVote(height=height)).vote_extension
    assert beacon.parse_share(ext)

    def verify(name_or_address: str | bytes, extension: bytes) -> int:
        who = cons_address(name_or_address) if isinstance(name_or_address, str) else name_or_address
        req = abci.RequestVerifyVoteExtension(validator_address=who, height=height, vote_extension=extension)
        return chain.abci.verify_vote_extension(req).status

    ok, no = abci.ResponseVerifyVoteExtension.ACCEPT, abci.ResponseVerifyVoteExtension.REJECT
    assert verify("val0", ext) == ok
    assert verify("val1", ext) == no  # another member's share is not val1's
    assert verify("val0", b"") == no  # a member may not withhold
    assert verify("val0", b"\x0a\x02hi") == no
    stranger = address_bytes_from_pubkey(cons_key("stranger"))
    assert verify(stranger, b"") == ok and verify(stranger, ext) == ok
    assert verify(stranger, b"garbage") == no
    # A node without a BLS key extends with nothing.
    assert AbciHandlers(chain.app).extend_vote(abci.RequestExtendVote(height=height)).vote_extension == b""


def test_process_proposal_rejects_a_tampered_beacon(caplog: pytest.LogCaptureFixture) -> None:
    chain = _chain()
    chain.block([])
    votes = beacon_votes(KEYS, chain.app.store.height)
    user = chain.send("val0", test_key("bob").address, 5)
    honest = chain.prepare(votes, [user, beacon.BEACON_TX_PREFIX + b"smuggled"])
    assert honest[1:] == [user]  # beacon first; a mempool tx with the beacon prefix is dropped
    assert chain.process(honest, votes) == ACCEPT
    raw = honest[0]
    stale = bls.sign(test_bls_key("val2"), beacon.compute_share_message(CHAIN_ID, 1))

    def alter(entries: list[beacon_pb2.BeaconEntry]) -> list[beacon_pb2.BeaconEntry]:
        entries[2] = beacon_pb2.BeaconEntry(validator_address=entries[2].validator_address, signature=stale)
        return entries

    # (the proposal, what the rejection must say)
    tampered = {
        "two of four shares dropped": ([_with_entries(raw, lambda e: e[1:3]), user], "2 of 4 voting power"),
        "a share altered": ([_with_entries(raw, alter), user], "does not verify"),
        "entries reordered": ([_with_entries(raw, lambda e: [e[1], e[0], *e[2:]]), user], "sorted"),
        "a share duplicated": ([_with_entries(raw, lambda e: [e[0], *e]), user], "sorted"),
        "beacon tx omitted": ([user], "must start with the beacon tx"),
        "beacon tx not first": ([user, raw], "must start with the beacon tx"),
        "a second beacon tx": ([raw, raw, user], "only the first tx"),
    }
    for what, (txs, reason) in tampered.items():
        caplog.clear()
        assert chain.process(txs, votes) == REJECT, what
        assert reason in caplog.text, (what, caplog.text)


def test_a_left_out_share_costs_its_validator_the_block() -> None:
    """A late precommit with a bad extension reaches the proposer unverified (cometbft#2361): the
    honest proposal leaves the share out and is accepted, and the member is charged a missed block,
    as it is when a proposer leaves out an honest share (which it could do by dropping the precommit)."""
    chain = _chain()
    votes = beacon_votes(KEYS, chain.app.store.height)
    late = [v for v in votes if v.validator.address == cons_address("val3")][0]
    late.vote_extension = b"\x0a\x03bad"
    txs = chain.prepare(votes)
    assert len(beacon.decode_beacon_tx(txs[0]).entries) == 3
    assert chain.process(txs, votes) == ACCEPT
    resp = chain.abci.finalize_block(
        abci.RequestFinalizeBlock(
            height=chain.app.store.height + 1, txs=txs, decided_last_commit=_commit(votes)
        )
    )
    chain.abci.commit(abci.RequestCommit())
    event = {a.key: a.value for a in resp.tx_results[0].events[0].attributes}
    assert event["shares"] == "3" and event["missing"] == cons_address("val3").hex().upper()
    assert _missed(chain, "val3") == 1 and _missed(chain, "val0") == 0
    assert _seed(chain).shares == 3


def test_a_decided_bad_beacon_fails_with_its_own_result_and_keeps_the_seed() -> None:
    chain = _chain()
    chain.block([])
    before = _seed(chain)
    votes = beacon_votes(KEYS, chain.app.store.height)
    raw = _with_entries(chain.prepare(votes)[0], lambda e: e[3:])
    user = chain.send("val1", test_key("bob").address, 5)
    resp = chain.abci.finalize_block(
        abci.RequestFinalizeBlock(
            height=chain.app.store.height + 1, txs=[raw, user], decided_last_commit=_commit(votes)
        )
    )
    chain.abci.commit(abci.RequestCommit())
    assert len(resp.tx_results) == 2
    assert (resp.tx_results[0].code, resp.tx_results[0].codespace) == (11, "committee")
    assert resp.tx_results[1].code == 0
    assert _seed(chain) == before


def test_check_tx_refuses_beacon_transactions() -> None:
    chain = _chain()
    raw = chain.prepare(beacon_votes(KEYS, chain.app.store.height))[0]
    for tx in (raw, beacon.BEACON_TX_PREFIX):
        resp = chain.abci.check_tx(abci.RequestCheckTx(tx=tx))
        assert (resp.code, resp.codespace) == (11, "committee")
        assert "proposer" in resp.log


def test_without_vote_extensions_no_beacon_is_due_or_allowed() -> None:
    chain = Chain()
    chain.init({"alice": 10**9})
    chain.block([])
    beacon_tx = beacon.encode_beacon_tx(beacon_pb2.BeaconTx(vote_height=chain.app.store.height))
    assert chain.prepare([]) == []
    assert chain.process([], []) == ACCEPT
    assert chain.process([beacon_tx], []) == REJECT
    resp = chain.block([beacon_tx])  # decided anyway: an ordinary malformed tx
    assert resp.tx_results[0].codespace == "sdk"
    answer = chain.abci.query(abci.RequestQuery(path="/store", data=SEED_KEY))
    assert not answer.value


def test_app_hash_is_pinned_and_deterministic(tmp_path: Path) -> None:
    hashes = set()
    for backend in (MemoryBackend(), LevelDBBackend(tmp_path / "db")):
        chain = _chain(backend)
        for i in range(4):
            chain.block([chain.send("val2", test_key("bob").address, i + 1)])
        assert chain.app.store.height == 5
        hashes.add(chain.app.store.app_hash.hex())
        backend.close()
    assert len(hashes) == 1
    assert hashes.pop() == GOLDEN_APP_HASH
