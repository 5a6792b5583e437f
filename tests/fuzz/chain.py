"""The small in-process chain the fuzz targets share: built once per process, never committed again.

Four bonded genesis validators on committee duty (three with an ensemble model), two funded users,
a learning task and a fast prediction query, vote extensions on from height 1. Each fuzz input runs
against the last committed state: CheckTx on a fresh check state (SynodApp.reload) and FinalizeBlock
staged but not committed, so one input never changes what the next one sees.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from app.app import SynodApp
from app.client.txbuilder import DEFAULT_GAS
from app.core.coins import Coins
from app.core.crypto import PrivateKey, decode_address
from app.modules.consensus.logic import encode_predictions
from synod.base.v1 import coin_pb2
from synod.consensus.v1 import tx_pb2 as consensus_tx
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import (
    CHAIN_ID,
    DENOM,
    GENESIS_TIME,
    Chain,
    beacon_votes,
    genesis_app_state,
    test_bls_key,
    test_key,
)
from tests.integration.staking_harness import (
    cons_address,
    validators_on_duty,
)
from tests.integration.tasks_harness import post_msg

__all__ = [
    "CHAIN_ID",
    "DENOM",
    "USERS",
    "VALIDATORS",
    "FuzzChain",
    "genesis_state",
    "get_chain",
    "post_query_msg",
    "vote_key",
]

VALIDATORS = ("val0", "val1", "val2", "val3")
USERS = ("alice", "bob")
POWER = {
    cons_address("val0"): 30,
    cons_address("val1"): 20,
    cons_address("val2"): 10,
    cons_address("val3"): 5,
}


def vote_key(name: str) -> PrivateKey:
    """The consensus key staking_harness.cons_key is the public half of."""
    return test_key("consensus:" + name)


def _app_state() -> dict:
    """Validators with committee duty and models (as tests/integration/test_ensemble_abci.py)."""
    return validators_on_duty(VALIDATORS, models=VALIDATORS[:3])


def genesis_state(balances: dict[str, int]) -> bytes:
    """The shared chain's genesis app_state JSON."""
    return genesis_app_state(balances, _app_state())


def post_query_msg(poster: str) -> consensus_tx.MsgPostQuery:
    """A valid fast MsgPostQuery with three inputs and three classes."""
    return consensus_tx.MsgPostQuery(
        poster=test_key(poster).address,
        description="fast",
        input_count=3,
        label_count=3,
        inputs=b"xyz",
        inputs_hash=hashlib.sha256(b"xyz").digest(),
        reward=coin_pb2.Coin(denom=DENOM, amount="9000"),
        label_blocks=5,
        fast=True,
    )


@dataclass
class FuzzChain:
    """The committed chain plus what a proposer of the next height would put first."""

    chain: Chain
    # The extended last commit of the next height and the beacon/ensemble txs it yields.
    votes: list[abci.ExtendedVoteInfo]
    prefix: list[bytes]
    # Committed (account number, sequence) of every test key, by name.
    accounts: dict[str, tuple[int, int]]
    genesis: bytes

    @property
    def app(self) -> SynodApp:
        """The app under test."""
        return self.chain.app

    @property
    def next_height(self) -> int:
        """The height every fuzz input proposes and executes."""
        return self.app.store.height + 1

    def commit_info(self) -> abci.CommitInfo:
        """The decided last commit matching votes."""
        return abci.CommitInfo(
            votes=[abci.VoteInfo(validator=v.validator, block_id_flag=v.block_id_flag) for v in self.votes]
        )

    def finalize(self, txs: list[bytes]) -> abci.ResponseFinalizeBlock:
        """FinalizeBlock of the next height over txs, staged, never committed."""
        h = self.next_height
        return self.chain.abci.finalize_block(
            abci.RequestFinalizeBlock(
                height=h,
                txs=txs,
                time=Timestamp(seconds=GENESIS_TIME + h),
                decided_last_commit=self.commit_info(),
            )
        )


def _build() -> FuzzChain:
    """Genesis, a task, a fast query answered by the ensemble: the state every input starts from."""
    chain = Chain(
        beacon_keys={cons_address(n): test_bls_key(n) for n in VALIDATORS},
        beacon_powers=POWER,
        vote_keys={cons_address(n): vote_key(n) for n in VALIDATORS},
    )
    balances = {n: 10**12 for n in (*VALIDATORS, *USERS)}
    chain.init(balances, _app_state())
    genesis = chain.abci.app.store.app_hash
    chain.block([chain.tx("alice", [post_msg("alice")], gas=2_000_000)])
    chain.block([chain.tx("alice", [post_query_msg("alice")])])
    chain.block([chain.send("bob", test_key("alice").address, 5, fee=Coins.of([(DENOM, DEFAULT_GAS)]))])
    query_id = max(q.id for q in chain.app.consensus.iterate_queries(chain.app.store.view))
    # The next precommits answer the query, so the next block carries an ensemble tx after the beacon.
    answer = encode_predictions([(0, 9000), (1, 8000), (2, 7000)])
    chain.answers = {cons_address(n): {query_id: answer} for n in VALIDATORS[:3]}
    h = chain.app.store.height + 1
    votes = beacon_votes(chain.beacon_keys, h - 1, POWER, chain.vote_keys, chain.answers)
    prefix = chain.propose(h, [], votes)
    accounts = {}
    for name in (*VALIDATORS, *USERS):
        acc = chain.app.auth.get_account(chain.app.store.view, decode_address(test_key(name).address))
        accounts[name] = (acc.account_number, acc.sequence) if acc is not None else (0, 0)
    return FuzzChain(chain, votes, prefix, accounts, genesis)


@functools.cache
def get_chain() -> FuzzChain:
    """The shared chain (built on first use: about a second)."""
    return _build()
