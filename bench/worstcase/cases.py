"""The worst-case blocks, one builder each: a name, what it bounds, and a timed run."""

from __future__ import annotations

import base64
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from google.protobuf.timestamp_pb2 import Timestamp

from app.client.tasktx import post_task_gas
from app.client.txbuilder import msg_send
from app.core.architectures import param_count
from app.core.coins import Coins
from app.modules.auth.params import default_params as auth_params
from app.modules.staking.params import default_params as staking_params
from app.modules.tasks.params import default_params as tasks_params
from app.state.backend import LevelDBBackend
from synod.tasks.v1 import tasks_pb2
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import (
    DENOM,
    GENESIS_TIME,
    Chain,
    beacon_votes,
    member_json,
    test_bls_key,
    test_key,
)
from tests.integration.staking_harness import STAKING_PARAMS, address, cons_address, cons_key
from tests.integration.tasks_harness import N_CLASSES, N_FEATURES, post_msg

__all__ = ["CASES", "Case", "Timings"]

# CometBFT's default block.max_bytes (the localnet keeps it).
BLOCK_MAX_BYTES = 22_020_096
RICH = 10**15


@dataclass
class Timings:
    """Seconds per ABCI method on the case's block, plus what the block held."""

    seconds: dict[str, float] = field(default_factory=dict)
    block: str = ""
    accepted: bool = True

    def time(self, method: str, fn: Callable[[], object]) -> object:
        """Run fn once and record its wall time under method."""
        start = time.perf_counter()
        out = fn()
        self.seconds[method] = time.perf_counter() - start
        return out


@dataclass(frozen=True)
class Case:
    """One worst case: what it bounds, and a run at full or smoke size."""

    name: str
    bounds: str
    run: Callable[[bool], Timings]


@contextmanager
def _chain(balances: dict[str, int], app_state: dict | None = None, **kw: object) -> Iterator[Chain]:
    """A harness chain over LevelDB in a temporary directory (a node's backend)."""
    with tempfile.TemporaryDirectory() as d:
        chain = Chain(backend=LevelDBBackend(d), check_invariants=False, **kw)  # type: ignore[arg-type]
        chain.init(balances, app_state)
        yield chain
        chain.backend.close()


def _height(chain: Chain) -> int:
    return chain.app.store.height + 1


def _run_block(chain: Chain, t: Timings, txs: list[bytes], valid: bool = True) -> Timings:
    """ProcessProposal, then (if accepted) FinalizeBlock and Commit, each timed; every tx must
    succeed (valid) or fail (not valid), or the case did not build the block it claims."""
    h = _height(chain)
    status = t.time(
        "process", lambda: chain.abci.process_proposal(abci.RequestProcessProposal(height=h, txs=txs))
    )
    t.accepted = status.status == abci.ResponseProcessProposal.ACCEPT  # type: ignore[attr-defined]
    t.block = f"{len(txs)} txs, {sum(map(len, txs)):,} bytes"
    if t.accepted:
        resp = t.time("finalize", lambda: chain.finalize(txs))
        t.time("commit", lambda: chain.abci.commit(abci.RequestCommit()))
        codes = [r.code for r in resp.tx_results]  # type: ignore[attr-defined]
        logs = [r.log for r in resp.tx_results if (r.code == 0) != valid]  # type: ignore[attr-defined]
        assert all((c == 0) == valid for c in codes), f"expected valid={valid}: {logs[:1]}"
    return t


def _senders(n: int) -> dict[str, int]:
    return {f"s{i}": RICH for i in range(n)}


def _sends(chain: Chain, n: int, per_tx: int = 1, corrupt: bool = False) -> list[bytes]:
    """n messages of one-coin sends, per_tx to a tx, each tx from its own sender (any order is valid)."""
    txs = []
    for i in range(n // per_tx):
        me = test_key(f"s{i}").address
        msgs = [msg_send(me, test_key("sink").address, Coins.of([(DENOM, 1)]))] * per_tx
        raw = chain.tx(f"s{i}", msgs, gas=20_000 + 30_000 * per_tx)
        txs.append(raw[:-8] + bytes(8) if corrupt else raw)  # the signature's last bytes zeroed
    return txs


def _msgs(smoke: bool) -> int:
    return 50 if smoke else auth_params().max_block_msgs


def run_bad_signatures(smoke: bool) -> Timings:
    """A hostile proposer's block: max_block_msgs sends whose signatures fail (nobody pays)."""
    n = _msgs(smoke)
    with _chain(_senders(n)) as chain:
        return _run_block(chain, Timings(), _sends(chain, n, corrupt=True), valid=False)


def run_unbounded_bad_signatures(smoke: bool) -> Timings:
    """What the message budget removes: block.max_bytes of bad-signature sends, executed as if
    ProcessProposal had accepted them (it rejects them now)."""
    n = _msgs(smoke) + 1 if smoke else BLOCK_MAX_BYTES // 258
    with _chain(_senders(n)) as chain:
        txs = _sends(chain, n, corrupt=True)
        t = Timings(block=f"{len(txs)} txs, {sum(map(len, txs)):,} bytes", accepted=False)
        t.time("finalize", lambda: chain.finalize(txs))
        return t


def run_valid_sends(smoke: bool) -> Timings:
    """max_block_msgs valid one-message sends: the full pipeline each."""
    n = _msgs(smoke)
    with _chain(_senders(n)) as chain:
        return _run_block(chain, Timings(), _sends(chain, n))


def run_multi_sends(smoke: bool) -> Timings:
    """max_block_msgs sends packed 100 to a tx: message work without per-tx signatures."""
    n = _msgs(smoke)
    with _chain(_senders(n // 10)) as chain:
        return _run_block(chain, Timings(), _sends(chain, n, per_tx=10 if smoke else 100))


def run_junk_bytes(smoke: bool) -> Timings:
    """block.max_bytes of max_tx_bytes junk: every byte hashed, none decodes."""
    size = auth_params().max_tx_bytes
    count = 2 if smoke else BLOCK_MAX_BYTES // (size + 16)
    with _chain({}) as chain:
        return _run_block(chain, Timings(), [os.urandom(size) for _ in range(count)], valid=False)


def run_tiny_junk(smoke: bool) -> Timings:
    """block.max_bytes of 250-byte junk (~84,000 txs): ProcessProposal rejects it by count."""
    count = auth_params().max_block_msgs + 1 if smoke else BLOCK_MAX_BYTES // 262
    with _chain({}) as chain:
        t = _run_block(chain, Timings(), [os.urandom(250) for _ in range(count)], valid=False)
        assert not t.accepted, "a block over max_block_msgs must be rejected"
        return t


def _largest_mlp(max_params: int) -> str:
    """The widest two-hidden-layer MLP (equal widths) within max_params (widths have 4 digits)."""
    width = 9999
    while param_count(f"mlp:{width}-{width}", N_FEATURES, N_CLASSES) > max_params:
        width -= 1
    return f"mlp:{width}-{width}"


def _seeded_post(owner: str, smoke: bool) -> tuple[object, int]:
    """The largest MsgPostTask the params allow whose weights the chain derives (init_seed)."""
    arch = "mlp:64" if smoke else _largest_mlp(tasks_params().max_model_params)
    msg = post_msg(
        owner,
        model=tasks_pb2.ModelSpec(arch=arch, n_features=N_FEATURES, n_classes=N_CLASSES),
        initial_weights=b"",
        init_seed=b"worst-case",
    )
    return msg, post_task_gas(msg)  # type: ignore[arg-type]


def run_seeded_posts(smoke: bool) -> Timings:
    """As many max-size seeded posts as max_block_gas allows: weights derived and stored."""
    _, gas = _seeded_post("p0", smoke)
    count = 1 if smoke else auth_params().max_block_gas // gas
    with _chain({f"p{i}": RICH for i in range(count)}) as chain:
        txs = []
        for i in range(count):
            msg, gas = _seeded_post(f"p{i}", smoke)
            txs.append(chain.tx(f"p{i}", [msg], gas=gas))
        return _run_block(chain, Timings(), txs)


def _members(n: int) -> dict:
    """n bonded genesis validators, each a committee member with its BLS key."""
    names = [f"v{i}" for i in range(n)]
    return {
        "staking": {
            "params": {**STAKING_PARAMS, "max_validators": n},
            "validators": [
                {
                    "operator_address": address(v),
                    "consensus_pubkey": base64.b64encode(cons_key(v)).decode(),
                    "moniker": v,
                    "self_bond": "10000000",
                }
                for v in names
            ],
        },
        "committee": {"members": [member_json(address(v), cons_address(v), test_bls_key(v)) for v in names]},
    }


def run_beacon(smoke: bool) -> Timings:
    """The beacon at max_validators members: every share in the last commit verified and combined."""
    n = 4 if smoke else staking_params().max_validators
    keys = {cons_address(f"v{i}"): test_bls_key(f"v{i}") for i in range(n)}
    with _chain({f"v{i}": RICH for i in range(n)}, _members(n), beacon_keys=keys) as chain:
        t = Timings()
        h = _height(chain)
        votes = beacon_votes(keys, h - 1)
        commit = abci.CommitInfo(
            votes=[abci.VoteInfo(validator=v.validator, block_id_flag=v.block_id_flag) for v in votes]
        )
        t.time(
            "verify_extension",
            lambda: chain.abci.verify_vote_extension(
                abci.RequestVerifyVoteExtension(
                    validator_address=votes[0].validator.address,
                    height=h - 1,
                    vote_extension=votes[0].vote_extension,
                )
            ),
        )
        prepared = t.time(
            "prepare",
            lambda: chain.abci.prepare_proposal(
                abci.RequestPrepareProposal(
                    height=h,
                    max_tx_bytes=BLOCK_MAX_BYTES,
                    local_last_commit=abci.ExtendedCommitInfo(votes=votes),
                )
            ),
        )
        txs = list(prepared.txs)  # type: ignore[attr-defined]
        status = t.time(
            "process",
            lambda: chain.abci.process_proposal(
                abci.RequestProcessProposal(height=h, txs=txs, proposed_last_commit=commit)
            ),
        )
        t.accepted = status.status == abci.ResponseProcessProposal.ACCEPT  # type: ignore[attr-defined]
        finalize = abci.RequestFinalizeBlock(
            height=h, txs=txs, time=Timestamp(seconds=GENESIS_TIME + h), decided_last_commit=commit
        )
        t.time("finalize", lambda: chain.abci.finalize_block(finalize))
        t.time("commit", lambda: chain.abci.commit(abci.RequestCommit()))
        t.block = f"beacon tx of {n} shares, {sum(map(len, txs)):,} bytes"
        return t


CASES = (
    Case("bad-signature sends", "auth.max_block_msgs (hostile proposer, unpaid)", run_bad_signatures),
    Case(
        "before the budget: bad-signature sends filling block.max_bytes",
        "nothing (ProcessProposal now rejects it)",
        run_unbounded_bad_signatures,
    ),
    Case("valid sends", "auth.max_block_msgs", run_valid_sends),
    Case("multi-message sends", "auth.max_block_msgs (100 a tx)", run_multi_sends),
    Case("max-size junk txs", "block.max_bytes / auth.max_tx_bytes", run_junk_bytes),
    Case("tiny junk txs", "auth.max_block_msgs, checked before decoding", run_tiny_junk),
    Case("seeded 4M-parameter posts", "auth.max_block_gas / tasks.max_model_params", run_seeded_posts),
    Case("beacon at max validators", "staking.max_validators", run_beacon),
)
