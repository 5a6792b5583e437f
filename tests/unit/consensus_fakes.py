"""Fakes for the consensus client tests: a node over a real App (CheckTx on broadcast, one block per
wait or agent sleep, scripted participants acting in every block), a scripted participant, a fixed
model, and a small query on inline inputs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np

from app.client.consensustx import (
    QuerySpec,
    msg_commit_predictions,
    msg_post_query,
    msg_register,
    msg_reveal_predictions,
)
from app.client.rpc import RpcError
from app.client.sender import compute_gas_limit
from app.core.crypto import decode_address
from app.core.tx import decode_tx
from app.ml.queryinputs import encode_inputs
from app.modules.consensus import logic
from synod.base.v1 import coin_pb2
from synod.consensus.v1 import consensus_pb2, tx_pb2
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import CHAIN_ID, DENOM, test_key
from tests.integration.staking_harness import StakingChain
from tests.unit.rpc_fakes import abci_over_handlers

FEATURES, CLASSES, INPUTS = 4, 3, 6
X = np.random.default_rng(7).normal(size=(INPUTS, FEATURES)).astype(np.float32)
BLOB = encode_inputs(X)
TRUTH = [0, 1, 2, 0, 1, 2]  # what the scripted participants say, and the labels
NAMES = ("alice", "bob", "carol", "dave", "validator0")


def coin(amount: int) -> coin_pb2.Coin:
    """amount usyn as a proto coin."""
    return coin_pb2.Coin(denom=DENOM, amount=str(amount))


def new_chain() -> StakingChain:
    """A chain with funded test keys, validator0 bonded, and its first block."""
    chain = StakingChain()
    chain.init(dict.fromkeys(NAMES, 10**12), {"validator0": 10**10})
    chain.block()
    return chain


def post_msg(poster: str = "alice", rounds: int = 1, **spec: object) -> tx_pb2.MsgPostQuery:
    """A query on the inline inputs X: 2 commit and 2 reveal blocks per round, peer sample 2."""
    fields: dict = {"label_count": CLASSES, "reward": coin(6000), "min_stake": coin(1000), "rounds": rounds}
    fields |= {"peer_sample": 2, "commit_blocks": 2, "reveal_blocks": 2, "label_blocks": 3, **spec}
    address = test_key(poster).address
    return msg_post_query(address, QuerySpec(**fields), INPUTS, hashlib.sha256(BLOB).digest(), BLOB)


def post(chain: StakingChain, poster: str = "alice", rounds: int = 1, **spec: object) -> None:
    """Post a query in its own block."""
    msg = post_msg(poster, rounds, **spec)
    result = chain.block([chain.tx(poster, msg, gas_limit=compute_gas_limit([msg]))]).tx_results[0]
    assert result.code == 0, result.log


def query_of(chain: StakingChain, query_id: int = 1) -> consensus_pb2.PredictionQuery:
    """A query from committed state."""
    return chain.app.consensus.require_query(chain.app.store.view, query_id)


def participant_of(chain: StakingChain, name: str, query_id: int = 1) -> consensus_pb2.Participant:
    """A participant record from committed state."""
    found = chain.app.consensus.get_participant(
        chain.app.store.view, query_id, decode_address(test_key(name).address)
    )
    assert found is not None, f"{name} is not a participant of query {query_id}"
    return found


class Scripted:
    """A participant the test drives: registers in round 0, then commits and reveals fixed entries."""

    def __init__(
        self,
        chain: StakingChain,
        name: str,
        entries: Sequence[tuple[int, int]],
        query_id: int = 1,
        reveal: bool = True,
    ) -> None:
        self.chain, self.name, self.query_id, self.reveal = chain, name, query_id, reveal
        self.address = test_key(name).address
        self.predictions = logic.encode_predictions(entries)
        self.committed: set[int] = set()
        self.revealed: set[int] = set()

    def _salt(self, round_: int) -> bytes:
        return hashlib.sha256(f"{self.name}/{round_}".encode()).digest()

    def __call__(self, height: int) -> list[bytes]:
        """The transactions this participant sends for the block at height."""
        query = self.chain.app.consensus.get_query(self.chain.app.store.view, self.query_id)
        if query is None or query.status != consensus_pb2.QUERY_STATUS_OPEN or query.fast:
            return []
        phase = logic.compute_phase(query, height)
        r, salt = phase.round, self._salt(phase.round)
        msgs: list = []
        if phase.name == logic.COMMIT and r not in self.committed:
            if r == 0:
                msgs.append(msg_register(self.address, self.query_id, coin(1000)))
            msgs.append(msg_commit_predictions(self.address, self.query_id, r, salt, self.predictions))
            self.committed.add(r)
        elif phase.name == logic.REVEAL and r in self.committed and r not in self.revealed and self.reveal:
            msgs.append(msg_reveal_predictions(self.address, self.query_id, r, salt, self.predictions))
            self.revealed.add(r)
        return [self.chain.tx(self.name, *msgs, gas_limit=compute_gas_limit(msgs))] if msgs else []


class Crash(Exception):
    """Stands for SIGKILL at a chosen point."""


class ConsensusNode:
    """A CometRPC stand-in over a StakingChain's App.

    CheckTx on broadcast; one block per wait_for_tx (if the tx is not in yet) and per agent sleep
    (and, with tick_on_status, per status call: a clock for agents that sleep for real). Before
    every block the `actors` add their transactions for it.
    """

    url = "http://consensus-node"

    def __init__(self, chain: StakingChain, tick_on_status: bool = False) -> None:
        self.chain = chain
        self.tick_on_status = tick_on_status
        self.mempool: list[bytes] = []
        self.included: dict[str, dict] = {}
        self.actors: list[Callable[[int], list[bytes]]] = []
        self.crash_on_broadcast: tuple[str, str] | None = None  # (first message name, "before" | "after")
        self.sleep_hook: Callable[[], None] = lambda: None

    @property
    def height(self) -> int:
        return self.chain.height

    def status(self) -> dict:
        if self.tick_on_status:
            self.block()
        return {"sync_info": {"latest_block_height": str(self.height)}, "node_info": {"network": CHAIN_ID}}

    def abci_query(self, path: str, data: bytes, height: int = 0, prove: bool = False) -> dict:
        return abci_over_handlers(self.chain.abci, path, data, prove)

    def broadcast_tx_sync(self, raw: bytes) -> dict:
        name = decode_tx(raw).body.messages[0].type_url.rsplit(".", 1)[1]
        if self.crash_on_broadcast == (name, "before"):
            self.crash_on_broadcast = None
            raise Crash
        if raw in self.mempool:
            raise RpcError("broadcast_tx_sync failed: tx already exists in cache")
        r = self.chain.abci.check_tx(abci.RequestCheckTx(tx=raw))
        if r.code == 0:
            self.mempool.append(raw)
        if self.crash_on_broadcast == (name, "after"):
            self.crash_on_broadcast = None
            raise Crash
        return {"code": r.code, "codespace": r.codespace, "log": r.log, "hash": _hash(raw)}

    def wait_for_tx(self, txhash: str, timeout: float = 0) -> dict:
        if txhash not in self.included:
            self.block()
        if txhash not in self.included:
            raise RpcError(f"transaction {txhash} was not included")
        return self.included[txhash]

    def block(self) -> None:
        """The next block: the actors' transactions, then the mempool."""
        txs = [raw for actor in self.actors for raw in actor(self.height + 1)] + self.mempool
        self.mempool = []
        resp = self.chain.block(txs)
        for raw, result in zip(txs, resp.tx_results, strict=True):
            events = [
                {"type": e.type, "attributes": [{"key": a.key, "value": a.value} for a in e.attributes]}
                for e in result.events
            ]
            self.included[_hash(raw)] = {
                "hash": _hash(raw),
                "height": str(self.height),
                "tx_result": {
                    "code": result.code,
                    "codespace": result.codespace,
                    "log": result.log,
                    "gas_wanted": result.gas_wanted,
                    "gas_used": result.gas_used,
                    "events": events,
                },
                "raw": raw,
            }

    def blocks_until(self, done: Callable[[], bool], limit: int = 100) -> None:
        """Blocks until done() (at most limit)."""
        for _ in range(limit):
            if done():
                return
            self.block()
        raise AssertionError(f"not done after {limit} blocks")

    def sleep(self, _seconds: float) -> None:
        self.sleep_hook()
        self.block()

    def txs_of(self, name: str, signer: str | None = None) -> list[dict]:
        """Included txs carrying a message of this name (signed by signer's key, if given)."""
        out = []
        for found in self.included.values():
            tx = decode_tx(found["raw"])
            if not any(m.type_url.endswith("." + name) for m in tx.body.messages):
                continue
            if signer is None or tx.signer == test_key(signer).address:
                out.append(found)
        return out


def _hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest().upper()


class FakeModel:
    """Fixed class probabilities on X; records how often it was made."""

    n_features = FEATURES
    n_classes = CLASSES
    made = 0

    def __init__(self, probs: np.ndarray) -> None:
        self.probs = probs

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        assert np.array_equal(x, X), "predicted on other inputs than the query's"
        return self.probs
