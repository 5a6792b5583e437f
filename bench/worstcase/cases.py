"""The worst-case blocks, one builder each: a name, what it bounds, and a timed run."""

from __future__ import annotations

import hashlib
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
from app.modules.consensus.logic import compute_tally, compute_tally_cost, compute_weight, encode_predictions
from app.modules.consensus.params import default_params as consensus_params
from app.modules.staking.params import default_params as staking_params
from app.modules.tasks.params import default_params as tasks_params
from app.state.backend import LevelDBBackend
from bench.blockbudget.__main__ import measure_blocks
from synod.base.v1 import coin_pb2
from synod.consensus.v1 import tx_pb2
from synod.tasks.v1 import tasks_pb2
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import (
    DENOM,
    GENESIS_TIME,
    Chain,
    beacon_votes,
    test_bls_key,
    test_key,
)
from tests.integration.staking_harness import (
    cons_address,
    validators_on_duty,
)
from tests.integration.tasks_harness import N_CLASSES, N_FEATURES, post_msg

__all__ = ["CASES", "Case", "Timings"]

# CometBFT's default block.max_bytes (the localnet keeps it).
BLOCK_MAX_BYTES = 22_020_096
RICH = 10**15


@dataclass
class Timings:
    """Seconds per ABCI method on the case's block, plus what the block held."""

    seconds: dict[str, float] = field(default_factory=dict)
    # CPU seconds of this process: on a shared machine wall time also counts other processes.
    cpu: dict[str, float] = field(default_factory=dict)
    block: str = ""
    accepted: bool = True

    def time(self, method: str, fn: Callable[[], object]) -> object:
        """Run fn once and record its wall and CPU time under method."""
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        self.seconds[method] = time.perf_counter() - start
        self.cpu[method] = time.process_time() - cpu
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
    return validators_on_duty([f"v{i}" for i in range(n)], staking_params={"max_validators": n})


def _time_extended_block(chain: Chain, votes: list[abci.ExtendedVoteInfo], t: Timings) -> list[bytes]:
    """VerifyVoteExtension (the largest extension), PrepareProposal, ProcessProposal, FinalizeBlock and
    Commit of the next block over this extended last commit, each timed; returns the block's txs."""
    h = _height(chain)
    commit = abci.CommitInfo(
        votes=[abci.VoteInfo(validator=v.validator, block_id_flag=v.block_id_flag) for v in votes]
    )
    largest = max(votes, key=lambda v: len(v.vote_extension))
    verify = abci.RequestVerifyVoteExtension(
        validator_address=largest.validator.address, height=h - 1, vote_extension=largest.vote_extension
    )
    status = t.time("verify_extension", lambda: chain.abci.verify_vote_extension(verify))
    assert status.status == abci.ResponseVerifyVoteExtension.ACCEPT  # type: ignore[attr-defined]
    prepare = abci.RequestPrepareProposal(
        height=h, max_tx_bytes=BLOCK_MAX_BYTES, local_last_commit=abci.ExtendedCommitInfo(votes=votes)
    )
    txs = list(t.time("prepare", lambda: chain.abci.prepare_proposal(prepare)).txs)  # type: ignore[attr-defined]
    process = abci.RequestProcessProposal(height=h, txs=txs, proposed_last_commit=commit)
    status = t.time("process", lambda: chain.abci.process_proposal(process))
    t.accepted = status.status == abci.ResponseProcessProposal.ACCEPT  # type: ignore[attr-defined]
    finalize = abci.RequestFinalizeBlock(
        height=h, txs=txs, time=Timestamp(seconds=GENESIS_TIME + h), decided_last_commit=commit
    )
    resp = t.time("finalize", lambda: chain.abci.finalize_block(finalize))
    assert all(r.code == 0 for r in resp.tx_results), [r.log for r in resp.tx_results]  # type: ignore[attr-defined]
    t.time("commit", lambda: chain.abci.commit(abci.RequestCommit()))
    return txs


def _validators(smoke: bool) -> tuple[int, dict[bytes, bytes]]:
    n = 4 if smoke else staking_params().max_validators
    return n, {cons_address(f"v{i}"): test_bls_key(f"v{i}") for i in range(n)}


def run_beacon(smoke: bool) -> Timings:
    """The beacon at max_validators members: every share in the last commit verified and combined."""
    n, keys = _validators(smoke)
    with _chain({f"v{i}": RICH for i in range(n)}, _members(n), beacon_keys=keys) as chain:
        t = Timings()
        txs = _time_extended_block(chain, beacon_votes(keys, _height(chain) - 1), t)
        t.block = f"beacon tx of {n} shares, {sum(map(len, txs)):,} bytes"
        return t


def _fast_query(poster: str, inputs: int) -> tx_pb2.MsgPostQuery:
    """A fast prediction query of `inputs` inputs (the validators' models answer it)."""
    data = b"x" * inputs
    return tx_pb2.MsgPostQuery(
        poster=test_key(poster).address,
        description="worst case",
        input_count=inputs,
        label_count=3,
        inputs=data,
        inputs_hash=hashlib.sha256(data).digest(),
        reward=coin_pb2.Coin(denom=DENOM, amount="9000"),
        label_blocks=5,
        fast=True,
    )


def run_fast_path(smoke: bool) -> Timings:
    """The ensemble tx at its largest: max_validators models, each answering max_extension_answers
    pending fast queries of max_inputs inputs, all settled in one block (max_fast_settle_work)."""
    params = consensus_params()
    n, keys = _validators(smoke)
    queries, inputs = (2, 8) if smoke else (params.max_extension_answers, params.max_inputs)
    names = [f"v{i}" for i in range(n)]
    state = validators_on_duty(names, models=names, staking_params={"max_validators": n})
    vote_keys = {cons_address(f"v{i}"): test_key(f"consensus:v{i}") for i in range(n)}
    balances = {f"v{i}": RICH for i in range(n)} | {f"q{i}": RICH for i in range(queries)}
    with _chain(balances, state, beacon_keys=keys, vote_keys=vote_keys) as chain:
        resp = chain.block([chain.tx(f"q{i}", [_fast_query(f"q{i}", inputs)]) for i in range(queries)])
        assert all(r.code == 0 for r in resp.tx_results), [r.log for r in resp.tx_results]
        chain.block([])  # its last commit was extended before the queries existed
        ids = [q.id for q in chain.app.pending_fast_queries()]
        blob = encode_predictions([(i % 3, 9_000) for i in range(inputs)])
        answers = {address: {i: blob for i in ids} for address in keys}
        t = Timings()
        votes = beacon_votes(keys, _height(chain) - 1, vote_keys=vote_keys, answers=answers)
        txs = _time_extended_block(chain, votes, t)
        settled = len(ids) - len(chain.app.pending_fast_queries())
        size = sum(map(len, txs))
        t.block = f"{n} extensions x {len(ids)} answers x {inputs} inputs ({settled} settled), {size:,} bytes"
        return t


def run_tallies(smoke: bool) -> Timings:
    """Round closes at max_block_tally_work: the tally the end-block runs, over as many of the largest
    queries (max_query_participants x max_inputs) as the budget admits. The tally function alone, on
    decoded predictions: the close's reads and writes come on top (measured in the integration tests'
    harness, not here)."""
    params = consensus_params()
    participants, inputs = (8, 16) if smoke else (params.max_query_participants, params.max_inputs)
    cost = compute_tally_cost(participants, inputs, params.max_rounds)
    closes = 1 if smoke else max(1, params.max_block_tally_work // cost)
    entries = [(i % 3, 9_000) for i in range(inputs)]
    votes = [(compute_weight(1_000 + p, 5_000), entries) for p in range(participants)]
    t = Timings(block=f"{closes} round closes of {participants} participants x {inputs} inputs")

    def tally_all() -> None:
        for _ in range(closes):
            compute_tally(inputs, 3, votes)

    t.time("finalize", tally_all)
    return t


def run_aggregation(smoke: bool) -> Timings:
    """Krum rounds at max_aggregation_work (16 workers x 1M parameters) closing at one height, under
    the default max_block_aggregation_work: the worst end-block (bench/blockbudget's setup)."""
    params = tasks_params()
    tasks, workers, size = (3, 4, 4_096) if smoke else (3, 16, 1 << 20)
    arm = measure_blocks(tasks, workers, size, params.max_block_aggregation_work if not smoke else 1 << 17)
    worst = max(arm["blocks"], key=lambda b: b["end_block_s"])
    t = Timings(block=f"{tasks} Krum rounds of {workers} x {size:,} over {len(arm['blocks'])} blocks")
    t.seconds["finalize"] = worst["end_block_s"]  # the end-block alone: the txs came in earlier blocks
    t.cpu["finalize"] = worst["cpu_s"]
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
    Case(
        "fast path at max validators",
        "consensus.max_extension_answers, max_inputs, max_fast_settle_work",
        run_fast_path,
    ),
    Case("consensus round closes (tally only)", "consensus.max_block_tally_work", run_tallies),
    Case("aggregation at the block budget", "tasks.max_block_aggregation_work", run_aggregation),
)
