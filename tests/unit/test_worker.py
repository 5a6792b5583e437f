"""The worker agent: state files, restart decisions, gas sizing, and its loop against the in-process App."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import replace

import numpy as np
import pytest

from app.agents.pace import NEXT_BLOCK_POLLS
from app.agents.progress import LogReporter
from app.agents.training import TrainedUpdate, compute_train_seed
from app.agents.updatefile import UpdateFileError, encode_update_array
from app.agents.worker.agent import Worker, WorkerConfig, WorkerError
from app.agents.worker.plan import Action, Observation, decide_action, is_time_to_prepare
from app.agents.worker.state import SavedUpdate, StateFileError, load_update, save_update
from app.client.rpc import RpcError
from app.client.sender import compute_gas_limit
from app.client.tasktx import msg_commit, msg_join, msg_reveal
from app.core.architectures import param_count
from app.core.crypto import decode_address
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT
from app.core.tx import decode_tx
from app.modules.tasks import logic
from synod.tasks.v1 import tasks_pb2
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import CHAIN_ID, test_key
from tests.integration.tasks_harness import SIZE, TaskChain, post_msg
from tests.unit.rpc_fakes import abci_over_handlers

BOB = test_key("bob").address
A, B = b"\x01" * 32, b"\x02" * 32


def _saved(round_: int = 3, worker: str = BOB) -> SavedUpdate:
    update = UPDATE_FORMAT.encode(np.arange(-5, 5, dtype=np.int64))
    return SavedUpdate(7, round_, worker, bytes(range(32)), 123, update, b"\xaa" * 32)


# --- state files ------------------------------------------------------------------------------


def test_state_file_round_trip_is_atomic_and_checked(tmp_path) -> None:
    saved = _saved()
    path = save_update(tmp_path, saved)
    assert path.name == "round-000003.json" and sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert load_update(tmp_path, 7, 3, BOB) == saved
    assert json.loads(path.read_text())["commitment"] == saved.commitment.hex()
    assert load_update(tmp_path, 7, 4, BOB) is None


def test_state_file_from_another_task_or_key_is_refused(tmp_path) -> None:
    save_update(tmp_path, _saved())
    with pytest.raises(StateFileError, match="belongs to task 7 round 3"):
        load_update(tmp_path, 8, 3, BOB)
    with pytest.raises(StateFileError, match="belongs to"):
        load_update(tmp_path, 7, 3, test_key("carol").address)


def test_damaged_state_file_is_reported_not_guessed(tmp_path) -> None:
    path = save_update(tmp_path, _saved())
    doc = json.loads(path.read_text())
    doc["num_samples"] = 124  # no longer hashes to the recorded commitment
    path.write_text(json.dumps(doc))
    with pytest.raises(StateFileError, match="damaged"):
        load_update(tmp_path, 7, 3, BOB)
    path.write_text("{trunc")
    with pytest.raises(StateFileError, match="damaged"):
        load_update(tmp_path, 7, 3, BOB)


def test_state_files_keep_the_trace_and_data_spec_the_commitment_binds(tmp_path) -> None:
    saved = replace(_saved(), trace=bytes(range(40)) * 3, data_spec="wine:shard=1/4", withhold=True)
    assert saved.commitment != _saved().commitment  # trace and shard are bound
    expected = logic.compute_commitment(
        7, 3, decode_address(BOB), saved.salt, 123, saved.update, saved.trace, "wine:shard=1/4"
    )
    assert saved.commitment == expected
    save_update(tmp_path, saved)
    assert load_update(tmp_path, 7, 3, BOB) == saved


def test_version_1_state_files_still_load(tmp_path) -> None:
    saved = _saved()
    doc = json.loads(saved.to_json())
    for name in ("trace", "data_spec", "withhold"):
        del doc[name]
    doc["version"] = 1
    (tmp_path / "round-000003.json").write_text(json.dumps(doc))
    assert load_update(tmp_path, 7, 3, BOB) == saved


# --- restart reconciliation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obs", "action"),
    [
        (Observation("finished", 3, True), Action.EXIT),
        (Observation("cancelled", 0, False), Action.EXIT),
        (Observation("join", 0, False), Action.JOIN),
        (Observation("join", 0, True), Action.WAIT),
        (Observation("commit", 1, False), Action.NOT_PARTICIPANT),
        # commit phase: train once; after a crash re-send what was saved; never train twice
        (Observation("commit", 1, True), Action.TRAIN_AND_COMMIT),
        (Observation("commit", 1, True, saved_commitment=A), Action.COMMIT_SAVED),
        (Observation("commit", 1, True, commitment=A, saved_commitment=A), Action.WAIT),
        (Observation("commit", 1, True, commitment=A), Action.CANNOT_REVEAL),
        # reveal phase: reveal exactly the saved update the chain holds a commitment to
        (Observation("reveal", 1, True, commitment=A, saved_commitment=A), Action.REVEAL),
        (Observation("reveal", 1, True, commitment=A, revealed=True, saved_commitment=A), Action.WAIT),
        (Observation("reveal", 1, True, commitment=A, saved_commitment=B), Action.CANNOT_REVEAL),
        (Observation("reveal", 1, True, commitment=A), Action.CANNOT_REVEAL),
        (Observation("reveal", 1, True), Action.MISSED),
        (Observation("reveal", 1, True, saved_commitment=A), Action.MISSED),
        (Observation("score", 1, True, commitment=A), Action.WAIT),
    ],
)
def test_decide_action(obs: Observation, action: Action) -> None:
    assert decide_action(obs) is action


def test_slow_preparation_only_when_no_reveal_of_ours_is_pending() -> None:
    assert is_time_to_prepare(Observation("join", 0, True), rounds=3)
    assert is_time_to_prepare(Observation("reveal", 1, True, commitment=A, revealed=True), rounds=3)
    assert not is_time_to_prepare(Observation("commit", 2, True, commitment=A, saved_commitment=A), rounds=3)
    assert not is_time_to_prepare(Observation("reveal", 3, True, commitment=A, revealed=True), rounds=3)


# --- gas, seeds, update files -----------------------------------------------------------------


def test_gas_limit_grows_with_the_payload() -> None:
    small = UPDATE_FORMAT.encode(np.zeros(10, np.int64))
    large = UPDATE_FORMAT.encode(np.zeros(10_000, np.int64))
    gas_small = compute_gas_limit([msg_reveal(BOB, 1, 1, A, 1, small)])
    gas_large = compute_gas_limit([msg_reveal(BOB, 1, 1, A, 1, large)])
    assert gas_large - gas_small >= (len(large) - len(small)) * 40  # 10 per tx byte + 30 per stored byte


def _run_with_estimate(tc: TaskChain, sender: str, msg) -> None:  # noqa: ANN001
    """One block with msg at the estimated gas; it must pass with a 25% margin to spare."""
    result = tc.run(tc.chain.tx(sender, [msg], gas=compute_gas_limit([msg]))).tx_results[0]
    assert result.code == 0, result.log
    assert result.gas_used * 5 // 4 <= result.gas_wanted, f"{msg.DESCRIPTOR.name} used {result.gas_used}"


@pytest.mark.parametrize("arch", ["logreg", "mlp:64-32"])
def test_estimated_gas_covers_every_task_message_on_the_real_app(arch: str) -> None:
    size = param_count(arch, 64, 10)
    tc = TaskChain()
    tc.chain.init({"alice": 10**12, "bob": 10**12})
    weights = WEIGHT_FORMAT.encode(np.full(size, 1 << 16, np.int64))
    model = tasks_pb2.ModelSpec(arch=arch, n_features=64, n_classes=10)
    _run_with_estimate(tc, "alice", post_msg("alice", model=model, initial_weights=weights, min_workers=1))
    _run_with_estimate(tc, "bob", msg_join(BOB, 1))
    update = UPDATE_FORMAT.encode(np.full(size, -(1 << 12), np.int64))
    tc.advance_to_phase(logic.COMMIT, 1)
    _run_with_estimate(tc, "bob", msg_commit(BOB, 1, 1, A, 9, update))
    tc.advance_to_phase(logic.REVEAL, 1)
    _run_with_estimate(tc, "bob", msg_reveal(BOB, 1, 1, A, 9, update))


def test_train_seed_is_per_task_round_and_worker() -> None:
    seeds = {
        compute_train_seed(t, r, w) for t in (1, 2) for r in (1, 2) for w in (BOB, test_key("x").address)
    }
    assert len(seeds) == 8 and compute_train_seed(1, 1, BOB) == compute_train_seed(1, 1, BOB)


def test_update_files_take_float_deltas_or_fixed_point_ints() -> None:
    assert encode_update_array(np.array([0.5, -1.0], np.float32), 2) == UPDATE_FORMAT.encode(
        np.array([2048, -4096])
    )
    assert encode_update_array(np.array([2048, -4096], np.int16), 2) == UPDATE_FORMAT.encode(
        np.array([2048, -4096])
    )
    with pytest.raises(UpdateFileError, match="1-D vector of 3"):
        encode_update_array(np.zeros(2), 3)
    with pytest.raises(UpdateFileError, match="within"):
        encode_update_array(np.array([20000, 0]), 2)


# --- the loop, against the in-process App -----------------------------------------------------


class Crash(Exception):
    """Stands for SIGKILL at a chosen point."""


class FakeNode:
    """A CometRPC stand-in over the App: CheckTx on broadcast, one block per wait or worker sleep."""

    url = "http://fake-node"

    def __init__(self, tc: TaskChain) -> None:
        self.tc = tc
        self.mempool: list[bytes] = []
        self.included: dict[str, dict] = {}
        self.crash_on_broadcast: tuple[str, str] | None = None  # (message name, "before" | "after")
        self.sleep_hook = lambda: None

    def status(self) -> dict:
        height = self.tc.app.store.height
        return {"sync_info": {"latest_block_height": str(height)}, "node_info": {"network": CHAIN_ID}}

    def abci_query(self, path: str, data: bytes, height: int = 0, prove: bool = False) -> dict:
        return abci_over_handlers(self.tc.chain.abci, path, data, prove)

    def broadcast_tx_sync(self, raw: bytes) -> dict:
        name = decode_tx(raw).body.messages[0].type_url.rsplit(".", 1)[1]
        if self.crash_on_broadcast == (name, "before"):
            self.crash_on_broadcast = None
            raise Crash
        if raw in self.mempool:
            raise RpcError("broadcast_tx_sync failed: tx already exists in cache")
        r = self.tc.chain.abci.check_tx(abci.RequestCheckTx(tx=raw))
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
        txs, self.mempool = self.mempool, []
        resp = self.tc.run(*txs)
        for raw, result in zip(txs, resp.tx_results, strict=True):
            events = [
                {"type": e.type, "attributes": [{"key": a.key, "value": a.value} for a in e.attributes]}
                for e in result.events
            ]
            self.included[_hash(raw)] = {
                "hash": _hash(raw),
                "height": str(self.tc.app.store.height),
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

    def sleep(self, _seconds: float) -> None:
        self.sleep_hook()
        self.block()

    def txs_of(self, name: str) -> list[dict]:
        """Included txs carrying a message of this name."""
        return [
            found
            for found in self.included.values()
            if any(m.type_url.endswith(name) for m in decode_tx(found["raw"]).body.messages)
        ]


def _hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest().upper()


class FakeTrainer:
    """Instant, deterministic updates; records every round it trains."""

    trained: list[int] = []
    samples = 40
    description = "40 private samples"

    def __init__(self, task: tasks_pb2.Task, spec: str) -> None:
        self.task = task

    def warm_up(self, initial_weights: bytes) -> None:
        pass

    def train(self, weights: bytes, round_: int, worker: str, relabel=None, on_step=None) -> TrainedUpdate:  # noqa: ANN001
        FakeTrainer.trained.append(round_)
        for done in range(1, 21):
            on_step(done, 20)
        labels = np.arange(3) if relabel is None else relabel(np.arange(3), 3)
        # Poisoned labels show in the update, so tests can see they were used.
        value = 100 * round_ + (0 if relabel is None else int(np.sum(labels != np.arange(3))))
        return TrainedUpdate(UPDATE_FORMAT.encode(np.full(SIZE, value, np.int64)), self.samples)


@pytest.fixture
def node() -> FakeNode:
    tc = TaskChain()
    tc.chain.init({"alice": 10**12, "bob": 10**12, "carol": 10**12})
    schedule = tasks_pb2.Schedule(rounds=2, join_blocks=4, commit_blocks=3, reveal_blocks=3)
    tc.run(tc.post(schedule=schedule, min_workers=1))
    FakeTrainer.trained = []
    return FakeNode(tc)


def _worker(node: FakeNode, tmp_path, log: io.StringIO | None = None) -> Worker:
    config = WorkerConfig(task_id=1, data_spec="wine", state_dir=tmp_path / "state")
    reporter = LogReporter(log if log is not None else io.StringIO())
    return Worker(node, test_key("bob"), config, reporter, sleep=node.sleep, make_trainer=FakeTrainer)  # type: ignore[arg-type]


def _account_sequence(node: FakeNode) -> int:
    acc = node.tc.app.auth.get_account(node.tc.app.store.view, decode_address(BOB))
    return acc.sequence


def _assert_two_rounds_contributed_once_each(node: FakeNode) -> None:
    """Each round got exactly one commit and one reveal from bob, both accepted; 5 txs in all."""
    for name in ("MsgCommitUpdate", "MsgRevealUpdate"):
        assert [int(f["tx_result"]["code"]) for f in node.txs_of(name)] == [0, 0], name
    participant = node.tc.participant("bob")
    assert (participant.accepted_updates, participant.missed_reveals) == (2, 0)
    assert _account_sequence(node) == 5  # join + 2 commits + 2 reveals: nothing else ever landed
    assert [r.committed for r in node.tc.app.tasks.iterate_rounds(node.tc.app.store.view, 1)][1:] == [1, 1]


def test_worker_runs_a_task_to_the_end_and_reports_its_reward(node: FakeNode, tmp_path) -> None:
    summary = _worker(node, tmp_path).run()
    assert FakeTrainer.trained == [1, 2]  # one training per round
    _assert_two_rounds_contributed_once_each(node)
    assert (summary.status, summary.rounds_done, summary.accepted_updates) == ("finished", 2, 2)
    assert summary.reward == "9001usyn" and summary.stake_returned == "1000usyn"  # the only worker
    assert "reward received: 9001usyn" in summary.describe()


class BlockByBlock:
    """A follower over the fake node: each wait for the next block makes that block."""

    def __init__(self, node: FakeNode) -> None:
        self.node = node
        self.waits: list[tuple[int, float]] = []

    def wait_for_block(self, after_height: int, timeout: float) -> int | None:
        self.waits.append((after_height, timeout))
        self.node.block()
        return self.node.tc.app.store.height


def test_a_worker_with_a_follower_waits_for_each_next_block_not_a_poll_interval(
    node: FakeNode, tmp_path
) -> None:
    follower, slept, log = BlockByBlock(node), [], io.StringIO()
    config = WorkerConfig(task_id=1, data_spec="wine", state_dir=tmp_path / "state", poll_interval=0.3)
    worker = Worker(
        node,  # type: ignore[arg-type]
        test_key("bob"),
        config,
        LogReporter(log),
        sleep=slept.append,
        make_trainer=FakeTrainer,
        follower=follower,
    )
    summary = worker.run()
    assert (summary.status, summary.accepted_updates) == ("finished", 2)
    _assert_two_rounds_contributed_once_each(node)
    heights = [after for after, _ in follower.waits]
    assert all(later > earlier for earlier, later in zip(heights, heights[1:], strict=False))
    assert all(timeout == pytest.approx(0.3 * NEXT_BLOCK_POLLS) for _, timeout in follower.waits)
    assert slept == []  # no fixed sleep between polls
    # Training progress: a line each tenth of the steps (the fake trainer counts 20).
    steps = [
        line.split("training (40 private samples): ")[1]
        for line in log.getvalue().splitlines()
        if ": step " in line
    ]
    assert steps == [f"step {n}/20" for n in range(2, 21, 2)] * 2, steps


@pytest.mark.parametrize("when", ["before", "after"])
def test_crash_around_the_commit_broadcast_resends_the_saved_update(
    node: FakeNode, tmp_path, when: str
) -> None:
    node.crash_on_broadcast = ("MsgCommitUpdate", when)
    with pytest.raises(Crash):
        _worker(node, tmp_path).run()
    log = io.StringIO()
    summary = _worker(node, tmp_path, log).run()
    assert FakeTrainer.trained == [1, 2]  # round 1 was not trained again after the restart
    assert "re-sending the commitment saved before a restart" in log.getvalue()
    _assert_two_rounds_contributed_once_each(node)
    assert summary.accepted_updates == 2


def test_crash_after_the_commit_landed_reveals_after_restart(node: FakeNode, tmp_path) -> None:
    def crash_once_committed() -> None:
        if node.txs_of("MsgCommitUpdate"):
            node.sleep_hook = lambda: None
            raise Crash

    node.sleep_hook = crash_once_committed
    with pytest.raises(Crash):
        _worker(node, tmp_path).run()
    summary = _worker(node, tmp_path).run()
    assert FakeTrainer.trained == [1, 2]
    _assert_two_rounds_contributed_once_each(node)
    assert summary.missed_reveals == 0


def test_a_missed_commit_phase_skips_the_round(node: FakeNode, tmp_path) -> None:
    _worker(node, tmp_path)  # nothing yet: join by hand so only the rounds are missed
    node.tc.run(node.tc.join("bob"))
    node.tc.advance_to_phase(logic.REVEAL, 1)
    log = io.StringIO()
    summary = _worker(node, tmp_path, log).run()
    assert "round 1: its commit phase passed without a commitment of ours; skipping it" in log.getvalue()
    assert FakeTrainer.trained == [2] and summary.accepted_updates == 1


def test_lost_state_is_reported_instead_of_revealing_something_else(node: FakeNode, tmp_path) -> None:
    node.sleep_hook = lambda: (_ for _ in ()).throw(Crash) if node.txs_of("MsgCommitUpdate") else None
    with pytest.raises(Crash):
        _worker(node, tmp_path).run()
    node.sleep_hook = lambda: None
    for path in (tmp_path / "state").iterdir():
        path.unlink()
    log = io.StringIO()
    summary = _worker(node, tmp_path, log).run()
    assert "round 1: our commitment is on chain but no saved update" in log.getvalue()
    assert (summary.accepted_updates, summary.missed_reveals) == (1, 1)


def test_joining_too_late_and_unknown_tasks_are_clear_errors(node: FakeNode, tmp_path) -> None:
    node.tc.run(node.tc.join("carol"))
    node.tc.advance_to_phase(logic.COMMIT, 1)
    node.tc.run()
    with pytest.raises(WorkerError, match="is not a worker of task 1 and its join phase has closed"):
        _worker(node, tmp_path).run()
    config = WorkerConfig(task_id=9, data_spec="wine", state_dir=tmp_path)
    worker = Worker(node, test_key("bob"), config, LogReporter(io.StringIO()), sleep=node.sleep)  # type: ignore[arg-type]
    with pytest.raises(WorkerError, match="task 9: .*synod query task list"):
        worker.run()


def test_a_round_closing_under_the_block_budget_is_a_wait_and_says_so() -> None:
    """A closed round whose aggregation waits for a later block (tasks phase "closing") asks
    nothing of the worker, revealed or not, and the status line does not count blocks down."""
    from app.agents.progress import StatusLine

    for revealed in (False, True):
        obs = Observation("closing", 2, True, b"c" * 32, revealed, b"c" * 32)
        assert decide_action(obs) is Action.WAIT
    line = StatusLine(1, 40, "closing", 2, 5, -3).describe()
    assert line == "task 1 round 2/5 closing phase, aggregation deferred (height 40)"


def test_a_worker_never_declares_more_than_max_num_samples(
    node: FakeNode, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard over the chain's cap is declared as the cap (the chain would refuse more and slash
    the commitment as a missed reveal); the reveals land and say so in the log."""
    from synod.tasks.v1 import tx_pb2

    cap = node.tc.app.tasks.get_params(node.tc.app.store.view).max_num_samples
    monkeypatch.setattr(FakeTrainer, "samples", 2**31 - 1)
    log = io.StringIO()
    _worker(node, tmp_path, log).run()
    reveals = node.txs_of("MsgRevealUpdate")
    declared = []
    for found in reveals:
        msg = tx_pb2.MsgRevealUpdate()
        decode_tx(found["raw"]).body.messages[0].Unpack(msg)
        declared.append(msg.num_samples)
    assert declared == [cap, cap] and [int(f["tx_result"]["code"]) for f in reveals] == [0, 0]
    assert f"declaring {cap} samples, tasks.max_num_samples" in log.getvalue()
