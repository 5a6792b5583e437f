"""The node's DKG task (app/node/dkgtask.py) driving a DKG among four members by itself, on a chain
driven through the ABCI handlers; its txs go into the next block instead of through CometBFT."""

from __future__ import annotations

import asyncio
from pathlib import Path

from google.protobuf.message import Message

from app.abci.handlers import AbciHandlers
from app.client.sender import PreparedTx, TxRejected, TxSender
from app.core import threshold
from app.core.coins import Coins
from app.node import dkgtask
from synod.committee.v1 import query_pb2 as q
from tests.integration.harness import test_bls_key, test_key
from tests.integration.staking_harness import address
from tests.integration.test_dkg_abci import GAS, VALIDATORS, _chain, _signer, _until


class _Pending:
    """Collects what each task sends, to be signed into the next block."""

    def __init__(self) -> None:
        self.msgs: list[tuple[str, Message]] = []


def _tasks(chain, tmp_path: Path, pending: _Pending) -> dict[str, dkgtask.DkgTask]:
    tasks = {}
    for n in VALIDATORS:
        node = AbciHandlers(chain.app)
        task = dkgtask.DkgTask(
            node, test_bls_key(n), test_key(n), "http://127.0.0.1:1", tmp_path / n / "s.json"
        )
        task._send = lambda msgs, n=n: pending.msgs.extend((n, m) for m in msgs)  # type: ignore[method-assign]
        tasks[n] = task
    return tasks


def _run(chain, tasks: dict[str, dkgtask.DkgTask], pending: _Pending, until: int) -> None:
    """Poll every task, then put what they sent in the next block, until the committed height."""
    while chain.app.store.height < until:
        for task in tasks.values():
            asyncio.run(task.poll())
        txs = [chain.tx(n, [m], gas=GAS) for n, m in pending.msgs]
        pending.msgs.clear()
        r = chain.block(txs)
        assert all(x.code == 0 for x in r.tx_results[1:]), [x.log for x in r.tx_results]


def test_nodes_run_the_dkg_and_sign_epoch_seeds_by_themselves(tmp_path: Path) -> None:
    chain = _chain()
    pending = _Pending()
    tasks = _tasks(chain, tmp_path, pending)
    _run(chain, tasks, pending, 17)
    group = chain.ask("committee", "Dkg", q.QueryDkgRequest()).group
    assert group.id == 1 and list(group.qualified) == [1, 2, 3, 4]
    _run(chain, tasks, pending, 18)  # the tasks pick up their shares on the next poll
    message = b"check"
    sigs = {}
    for n, task in tasks.items():
        share = task.handlers.group_shares[group.id]
        index = next(i for i, m in enumerate(group.members, 1) if m.operator == address(n))
        sigs[index] = threshold.sign_share(share, message)
        assert threshold.is_valid_signature_share(group.verification_keys[index - 1], message, sigs[index])
        # Kept on disk, so a restarted node signs again after the dealings are pruned.
        assert dkgtask.load_group_shares(task.shares_path) == {group.id: share}
    assert threshold.is_valid_group_signature(group.public_key, message, threshold.combine_shares(sigs, 1))
    # The handlers' ExtendVote now signs epoch 9 with those shares; the chain stores its seed.
    shares = {
        a: tasks[n].handlers.group_shares[group.id]
        for n in VALIDATORS
        for a in [next(m.cons_address for m in group.members if m.operator == address(n))]
    }
    chain.share_source = _signer(chain, shares)
    _until(chain, 19)
    assert chain.ask("committee", "EpochSeed", q.QueryEpochSeedRequest(epoch=9)).seed.group_id == 1


def test_a_dealer_silent_in_the_deal_phase_is_left_out(tmp_path: Path) -> None:
    chain = _chain()
    pending = _Pending()
    tasks = _tasks(chain, tmp_path, pending)
    silent = tasks.pop("val2")
    _run(chain, tasks, pending, 17)
    group = chain.ask("committee", "Dkg", q.QueryDkgRequest()).group
    index = next(i for i, m in enumerate(group.members, 1) if m.operator == address("val2"))
    assert index not in group.qualified and len(group.qualified) == 3
    asyncio.run(silent.poll())  # it still holds a share of the group the others formed
    assert group.id in silent.handlers.group_shares


class _RacingSender(TxSender):
    """A sender whose first broadcasts lose the sequence to another process using the same key."""

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.prepared = 0

    def prepare(self, msgs, gas=None, fees=None, memo="", sequence=None) -> PreparedTx:  # type: ignore[override]
        self.prepared += 1
        return PreparedTx(b"tx", 1, Coins.of([]), "c")

    def broadcast(self, prepared: PreparedTx) -> str:
        if self.losses:
            self.losses -= 1
            raise TxRejected("sdk", 3, "account sequence mismatch", "CheckTx")
        return "HASH"

    def wait(self, txhash: str, timeout: float = 20.0):  # type: ignore[override]
        return txhash


def test_sender_signs_again_after_losing_the_sequence(monkeypatch) -> None:
    from app.client import sender as sender_module

    monkeypatch.setattr(sender_module, "_SEQUENCE_RETRY_SECONDS", 0)
    racing = _RacingSender(losses=2)
    assert racing.send([]) == "HASH" and racing.prepared == 3
    hopeless = _RacingSender(losses=sender_module.SEQUENCE_RETRIES + 1)
    try:
        hopeless.send([])
    except TxRejected as e:
        assert e.is_("sdk", 3)
    else:
        raise AssertionError("a sequence lost every time must surface")
