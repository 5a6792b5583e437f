"""auth's per-block budget (max_block_msgs, max_block_gas): PrepareProposal keeps within it,
ProcessProposal rejects a block over it, and CheckTx refuses a tx that could fit no block.

A hostile proposer's block of junk is the attack: before the budget, a 21 MiB block of 85,349
bad-signature sends cost every validator 17 s of FinalizeBlock CPU (python -m bench.worstcase).
"""

from __future__ import annotations

import os

from app.client.txbuilder import msg_send
from app.core.coins import Coins
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import DENOM, Chain, test_key

ACCEPT, REJECT = abci.ResponseProcessProposal.ACCEPT, abci.ResponseProcessProposal.REJECT
BUDGET = {
    "auth": {"params": {"max_block_msgs": "5", "max_block_gas": "1000000000", "max_gas_per_tx": "500000000"}}
}


def _chain() -> Chain:
    chain = Chain()
    chain.init({"alice": 10**12, "bob": 10**12}, BUDGET)
    return chain


def _process(chain: Chain, txs: list[bytes]) -> int:
    req = abci.RequestProcessProposal(height=chain.app.store.height + 1, txs=txs)
    return chain.abci.process_proposal(req).status


def _prepare(chain: Chain, txs: list[bytes]) -> list[bytes]:
    req = abci.RequestPrepareProposal(height=chain.app.store.height + 1, txs=txs, max_tx_bytes=1 << 30)
    return list(chain.abci.prepare_proposal(req).txs)


def test_a_block_over_the_message_budget_is_rejected_and_prepare_stops_at_it() -> None:
    chain = _chain()
    sends = [chain.send("alice", test_key("bob").address, 1) for _ in range(6)]
    assert _process(chain, sends[:5]) == ACCEPT
    assert _process(chain, sends) == REJECT
    assert _prepare(chain, sends) == sends[:5]


def test_junk_counts_one_message_each_and_is_refused_before_it_is_decoded() -> None:
    chain = _chain()
    assert _process(chain, [os.urandom(300) for _ in range(5)]) == ACCEPT
    assert _process(chain, [os.urandom(300) for _ in range(6)]) == REJECT


def test_messages_are_summed_over_txs() -> None:
    chain = _chain()
    bob = test_key("bob").address
    three = chain.tx("alice", [msg_send(test_key("alice").address, bob, Coins.of([(DENOM, 1)]))] * 3)
    two = chain.tx("alice", [msg_send(test_key("alice").address, bob, Coins.of([(DENOM, 1)]))] * 2)
    assert _process(chain, [three, two]) == ACCEPT
    extra = chain.send("bob", test_key("alice").address, 1)
    assert _process(chain, [three, two, extra]) == REJECT
    assert _prepare(chain, [three, two, extra]) == [three, two]


def test_gas_limits_are_summed_over_txs() -> None:
    chain = _chain()
    big = [
        chain.tx(
            "alice",
            [msg_send(test_key("alice").address, test_key("bob").address, Coins.of([(DENOM, 1)]))],
            gas=400_000_000,
        )
        for _ in range(3)
    ]
    assert _process(chain, big[:2]) == ACCEPT
    assert _process(chain, big) == REJECT  # 1.2e9 gas > 1e9
    assert _prepare(chain, big) == big[:2]


def test_check_tx_refuses_a_tx_with_more_messages_than_a_block_holds() -> None:
    chain = _chain()
    bob = test_key("bob").address
    six = chain.tx("alice", [msg_send(test_key("alice").address, bob, Coins.of([(DENOM, 1)]))] * 6)
    result = chain.abci.check_tx(abci.RequestCheckTx(tx=six))
    assert result.code != 0 and "block holds at most 5" in result.log


def test_a_block_within_budget_executes() -> None:
    chain = _chain()
    sends = [chain.send("alice", test_key("bob").address, 1) for _ in range(5)]
    chain.block(_prepare(chain, sends))
    assert chain.balance(test_key("bob").address) == 10**12 + 5
