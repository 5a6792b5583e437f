"""The ABCI call order as CometBFT's `abci-cli` can drive it: calls before InitChain are refused
without writing anything, and block and genesis times before 1970 commit and survive a restart."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from app.abci.handlers import AbciHandlers
from app.app import GenesisError, SynodApp
from app.core.errors import ErrNotInitialized
from app.state.backend import LevelDBBackend, MemoryBackend
from tendermint.abci import types_pb2 as abci
from tests.integration import harness

# Go's zero time.Time (0001-01-01T00:00:00Z), what abci-cli's finalize_block sends as the block time.
YEAR_ONE = -62_135_596_800


def test_finalize_block_and_commit_before_init_chain_are_refused_and_write_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = MemoryBackend()
    handlers = AbciHandlers(SynodApp(backend, check_invariants=True))
    tx = harness.Chain().send("alice", harness.test_key("bob").address, 5, account_number=0)  # well-formed
    with caplog.at_level(logging.ERROR, logger="synod.app"):
        block = handlers.finalize_block(
            abci.RequestFinalizeBlock(height=1, txs=[tx, b"junk"], time=Timestamp(seconds=YEAR_ONE))
        )
        handlers.commit(abci.RequestCommit())
    for result in block.tx_results:
        assert (result.codespace, result.code) == ("app", ErrNotInitialized.code)
        assert "before InitChain" in result.log
    assert len(block.tx_results) == 2 and block.app_hash == handlers.app.store.app_hash
    assert (
        "Commit before InitChain" in caplog.text
        and "FinalizeBlock of height 1 before InitChain" in caplog.text
    )
    assert list(backend.iterate(b"")) == []  # nothing staged, nothing written
    assert handlers.info(abci.RequestInfo()).last_block_height == 0
    # The refusals left nothing behind: InitChain then block 1 give a fresh chain's app hash.
    chain, fresh = harness.Chain(backend=backend), harness.Chain()
    chain.app, chain.abci = handlers.app, handlers
    chain.init({"alice": 10**9})
    fresh.init({"alice": 10**9})
    assert chain.app.store.app_hash == fresh.app.store.app_hash and chain.app.store.height == 1


def test_init_chain_without_a_chain_id_is_a_genesis_error() -> None:
    handlers = AbciHandlers(SynodApp(MemoryBackend()))
    with pytest.raises(GenesisError, match="chain_id"):
        handlers.init_chain(abci.RequestInitChain(chain_id="", initial_height=1))


@pytest.mark.parametrize("section", ["true", "3", '"bank"', "[]", "null"])
def test_a_module_genesis_that_is_not_an_object_is_a_genesis_error(section: str) -> None:
    # Found by tests/fuzz (target parsers): json_format.ParseDict raised TypeError on a scalar.
    app = SynodApp(MemoryBackend())
    with pytest.raises(GenesisError, match="bank: must be a JSON object"):
        app.init_chain(harness.CHAIN_ID, b'{"bank": ' + section.encode() + b"}", 1)


def test_genesis_and_block_times_before_1970_commit_and_survive_a_restart(tmp_path: Path) -> None:
    backend = LevelDBBackend(tmp_path / "db")
    handlers = AbciHandlers(SynodApp(backend, check_invariants=True))
    handlers.init_chain(
        abci.RequestInitChain(
            chain_id=harness.CHAIN_ID,
            app_state_bytes=harness.genesis_app_state({"alice": 10**9}),
            initial_height=1,
            time=Timestamp(seconds=YEAR_ONE),
        )
    )
    hashes = []
    for height, seconds in [(1, YEAR_ONE), (2, -1)]:
        block = abci.RequestFinalizeBlock(height=height, time=Timestamp(seconds=seconds, nanos=7))
        hashes.append(handlers.finalize_block(block).app_hash)
        handlers.commit(abci.RequestCommit())
    assert handlers.app.store.time == (-1, 7)
    backend.close()
    revived = AbciHandlers(SynodApp(LevelDBBackend(tmp_path / "db")))
    info = revived.info(abci.RequestInfo())
    assert (info.last_block_height, info.last_block_app_hash) == (2, hashes[-1])
    assert revived.app.store.time == (-1, 7) and revived.app.chain_id == harness.CHAIN_ID
    # CheckTx runs as of the last block's (negative) time.
    assert revived.check_tx(abci.RequestCheckTx(tx=b"junk")).codespace == "sdk"
