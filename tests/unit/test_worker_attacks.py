"""Malicious workers (`synod worker run --attack`) and trace tasks, through the worker and the in-process App.

An attacker sends the messages an honest worker sends; what it commits to is the attack's update.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from app.agents.progress import LogReporter
from app.agents.training import LocalTrainer, TrainedUpdate
from app.agents.worker.agent import Worker, WorkerConfig, WorkerError
from app.agents.worker.attack import Attacker, RoundInputs, compute_attacked_update, forge_trace_end
from app.agents.worker.state import load_update
from app.client.tasks import TasksClient
from app.core.crypto import decode_address
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT, compute_update_between, content_hash
from app.core.tx import decode_tx
from app.ml.attacks import parse_worker_attack
from app.ml.models import flatten, init_params
from app.ml.quantize import WEIGHT_SPEC, quantize
from app.ml.trace import decode_trace, verify_trace
from app.modules.committee import nearcopy
from app.modules.tasks import logic
from app.modules.tasks.trace import check_trace
from synod.tasks.v1 import tasks_pb2, tx_pb2
from tests.integration.harness import test_key
from tests.integration.tasks_harness import SIZE, TASK_GAS, TaskChain, post_msg
from tests.unit.test_worker import Crash, FakeNode, FakeTrainer

BOB = test_key("bob").address
CAROL = test_key("carol").address
HONEST = np.arange(-20, 22, dtype=np.int64) * 37  # a 42-entry UPDATE_FORMAT vector
WEIGHTS = WEIGHT_FORMAT.encode(np.arange(42, dtype=np.int64) * 1000)


def _inputs(public: tuple[bytes, ...] = (), previous: bytes | None = None) -> RoundInputs:
    return RoundInputs(2, 99, WEIGHTS, 42, 4, public, previous)


def _attacked(spec: str, **inputs: object) -> TrainedUpdate | None:
    trained = TrainedUpdate(UPDATE_FORMAT.encode(HONEST), 40)
    return compute_attacked_update(parse_worker_attack(spec), trained, _inputs(**inputs))  # type: ignore[arg-type]


def _vector(update: TrainedUpdate | None) -> np.ndarray:
    assert update is not None
    return UPDATE_FORMAT.decode(update.update, 42)


# --- the update an attack produces ------------------------------------------------------------


def test_update_attacks_replace_the_honest_update() -> None:
    assert np.array_equal(_vector(_attacked("sign_flip")), -HONEST)
    assert np.array_equal(_vector(_attacked("scaled:factor=3")), 3 * HONEST)
    assert np.array_equal(_vector(_attacked("ipm:eps=0.5")), np.rint(-HONEST / 2))  # half to even
    noise = _vector(_attacked("gaussian:sigma=0.1"))
    assert np.array_equal(noise, _vector(_attacked("gaussian:sigma=0.1"))) and not np.array_equal(
        noise, HONEST
    )
    assert _attacked("withhold") is None
    assert _attacked("label_flip") == TrainedUpdate(UPDATE_FORMAT.encode(HONEST), 40)  # poisoned in training


def test_free_ride_replays_a_public_update_byte_for_byte() -> None:
    others = (UPDATE_FORMAT.encode(HONEST + 5), UPDATE_FORMAT.encode(-HONEST))
    assert _attacked("free_ride", public=others).update == others[-1]  # type: ignore[union-attr]
    before = WEIGHT_FORMAT.encode(np.arange(42, dtype=np.int64) * 1000 - 16 * HONEST)
    assert np.array_equal(_vector(_attacked("free_ride", previous=before)), HONEST)  # the model's last move
    assert not _vector(_attacked("free_ride")).any()  # nothing to copy in the first round: zeros


def _wine_task(every: int = 1) -> tuple[tasks_pb2.Task, np.ndarray]:
    weights = quantize(flatten(init_params("logreg", 13, 3, 0)), WEIGHT_SPEC)
    task = tasks_pb2.Task(
        id=1,
        model=tasks_pb2.ModelSpec(arch="logreg", n_features=13, n_classes=3),
        hyper=tasks_pb2.Hyperparams(
            optimizer="sgd", learning_rate_ppm=100_000, batch_size=16, local_epochs=2
        ),
        data=tasks_pb2.DataRef(dataset="wine"),
        trace=tasks_pb2.TraceSpec(every_steps=every, tolerance=64),
        model_hash=content_hash(WEIGHT_FORMAT.encode(weights)),
    )
    return task, weights


def test_an_attacked_trace_passes_the_chain_and_fails_only_a_check_of_its_last_segment() -> None:
    task, weights = _wine_task()
    trainer = LocalTrainer(task, "wine:shard=0/4")
    trained = trainer.train(WEIGHT_FORMAT.encode(weights), 1, BOB)
    inputs = RoundInputs(1, 5, WEIGHT_FORMAT.encode(weights), 42, 4)
    forged = compute_attacked_update(parse_worker_attack("sign_flip"), trained, inputs)
    assert forged is not None and forged.data_spec == "wine:shard=0/4"
    update = UPDATE_FORMAT.decode(forged.update, 42)
    assert np.array_equal(update, -UPDATE_FORMAT.decode(trained.update, 42))
    check_trace(task, 42, update, forged.trace, forged.data_spec, 64)  # the chain sees a normal reveal
    honest, faked = decode_trace(trained.trace, 42), decode_trace(forged.trace, 42)
    assert np.array_equal(honest[:-1], faked[:-1]) and not np.array_equal(honest[-1], faked[-1])
    last = len(faked) - 2
    seeds = [bytes([i]) * 32 for i in range(24)]
    verdicts = [verify_trace(task, 1, BOB, forged.data_spec, forged.trace, seed) for seed in seeds]
    assert {v.segment for v in verdicts} == set(range(last + 1))
    assert all(v.passed == (v.segment != last) for v in verdicts)


def test_a_forged_trace_end_determines_the_update_even_at_the_weight_bound() -> None:
    start = np.arange(42, dtype=np.int64) * 1000
    start[-1] = WEIGHT_FORMAT.bound - 10  # an update past the bound is clipped with the weights
    trace = b"".join(WEIGHT_FORMAT.encode(start + k) for k in range(3))
    update, forged = forge_trace_end(trace, 42, HONEST)
    checkpoints = decode_trace(forged, 42)
    assert forged[: 2 * 42 * 4] == trace[: 2 * 42 * 4]
    assert np.array_equal(update, compute_update_between(checkpoints[0], checkpoints[-1]))
    assert np.array_equal(update[:-1], HONEST[:-1]) and update[-1] == 1  # (10 + 8) >> 4


# --- the worker loop --------------------------------------------------------------------------


def _node(**post: object) -> FakeNode:
    tc = TaskChain()
    tc.chain.init({"alice": 10**12, "bob": 10**12, "carol": 10**12})
    schedule = tasks_pb2.Schedule(rounds=2, join_blocks=4, commit_blocks=3, reveal_blocks=3)
    trace = post.pop("trace", None)
    msg = post_msg("alice", schedule=schedule, min_workers=1, **post)
    if trace is not None:
        msg.trace.CopyFrom(trace)
    tc.run(tc.chain.tx("alice", [msg], gas=TASK_GAS))
    FakeTrainer.trained = []
    return FakeNode(tc)


def _worker(
    node: FakeNode,
    tmp_path,
    attack: str = "",
    data: str = "wine",
    log: io.StringIO | None = None,
    make_trainer=FakeTrainer,
) -> Worker:  # noqa: ANN001
    config = WorkerConfig(task_id=1, data_spec=data, state_dir=tmp_path / "state", attack=attack)
    reporter = LogReporter(log if log is not None else io.StringIO())
    return Worker(node, test_key("bob"), config, reporter, sleep=node.sleep, make_trainer=make_trainer)  # type: ignore[arg-type]


def _reveals(node: FakeNode, worker: str = BOB) -> list[tx_pb2.MsgRevealUpdate]:
    """The accepted reveals of worker, in order."""
    out = []
    for found in node.txs_of("MsgRevealUpdate"):
        assert int(found["tx_result"]["code"]) == 0, found["tx_result"]["log"]
        any_msg = decode_tx(found["raw"]).body.messages[0]
        msg = tx_pb2.MsgRevealUpdate.FromString(any_msg.value)
        if msg.worker == worker:
            out.append(msg)
    return sorted(out, key=lambda m: m.round)


@pytest.mark.parametrize(
    ("attack", "value"), [("sign_flip", lambda r: -100 * r), ("label_flip", lambda r: 100 * r + 2)]
)
def test_an_attacking_worker_commits_and_reveals_the_attacks_update(tmp_path, attack: str, value) -> None:  # noqa: ANN001
    node = _node()
    summary = _worker(node, tmp_path, attack).run()
    revealed = [UPDATE_FORMAT.decode(m.update, SIZE) for m in _reveals(node)]
    assert [v.tolist() for v in revealed] == [[value(r)] * SIZE for r in (1, 2)]
    assert (summary.accepted_updates, summary.missed_reveals) == (2, 0)  # the mean takes anything


def test_a_withholding_worker_commits_and_never_reveals_even_after_a_restart(tmp_path) -> None:
    node = _node()

    def crash_once_committed() -> None:
        if node.txs_of("MsgCommitUpdate"):
            node.sleep_hook = lambda: None
            raise Crash

    node.sleep_hook = crash_once_committed
    with pytest.raises(Crash):
        _worker(node, tmp_path, "withhold").run()
    log = io.StringIO()
    summary = _worker(node, tmp_path, "withhold", log=log).run()
    assert [int(f["tx_result"]["code"]) for f in node.txs_of("MsgCommitUpdate")] == [0, 0]
    assert node.txs_of("MsgRevealUpdate") == []
    assert "round 1: withholding the reveal" in log.getvalue() and summary.missed_reveals == 2
    assert load_update(tmp_path / "state", 1, 1, BOB).withhold  # type: ignore[union-attr]


def test_a_free_rider_reveals_exactly_an_update_another_worker_revealed_earlier(tmp_path) -> None:
    node = _node()
    node.tc.run(node.tc.join("carol"))
    carol_update = np.random.default_rng(1).integers(-900, 900, SIZE)

    def carol_works() -> None:
        resp = TasksClient(node).task(1)
        key = ("carol", resp.round)
        if resp.phase == "commit" and key not in node.tc.pending:
            node.mempool.append(node.tc.commit("carol", resp.round, carol_update + resp.round))
        elif resp.phase == "reveal" and key in node.tc.pending and key not in revealed:
            revealed.add(key)
            node.mempool.append(node.tc.reveal("carol", resp.round))

    revealed: set[tuple[str, int]] = set()
    node.sleep_hook = carol_works
    log = io.StringIO()
    _worker(node, tmp_path, "free_ride", log=log).run()
    ours, theirs = _reveals(node), _reveals(node, CAROL)
    assert not UPDATE_FORMAT.decode(ours[0].update, SIZE).any()  # round 1: nothing seen yet
    assert ours[1].update == theirs[0].update  # round 2: carol's round-1 update, byte for byte
    assert "round 1: kept 1 updates other workers revealed" in log.getvalue()


def test_a_near_copy_worker_reveals_another_workers_earlier_update_scaled_in_new_bytes(tmp_path) -> None:
    node = _node()
    node.tc.run(node.tc.join("carol"))
    carol_update = np.random.default_rng(1).integers(-900, 900, SIZE)

    def carol_works() -> None:
        resp = TasksClient(node).task(1)
        key = ("carol", resp.round)
        if resp.phase == "commit" and key not in node.tc.pending:
            node.mempool.append(node.tc.commit("carol", resp.round, carol_update + resp.round))
        elif resp.phase == "reveal" and key in node.tc.pending and key not in revealed:
            revealed.add(key)
            node.mempool.append(node.tc.reveal("carol", resp.round))

    revealed: set[tuple[str, int]] = set()
    node.sleep_hook = carol_works
    _worker(node, tmp_path, "near_copy:scale=2:noise=0.01").run()
    ours, theirs = _reveals(node), _reveals(node, CAROL)
    copy, source = UPDATE_FORMAT.decode(ours[1].update, SIZE), UPDATE_FORMAT.decode(theirs[0].update, SIZE)
    assert ours[1].update != theirs[0].update  # new bytes: the exact-replay check passes it
    x, y = copy.astype(object), source.astype(object)
    assert (
        nearcopy.compute_cosine_bps(int(x @ y), int(x @ x), int(y @ y)) >= 9_950
    )  # the cosine rule does not


def test_a_bad_attack_spec_is_a_worker_error(tmp_path) -> None:
    with pytest.raises(WorkerError, match="committee attack"):
        _worker(_node(), tmp_path, "lazy")


# --- trace tasks ------------------------------------------------------------------------------


def _trace_node(epochs: int = 1) -> FakeNode:
    """A wine logreg task with a trace checkpointed after every step."""
    weights = quantize(flatten(init_params("logreg", 13, 3, 0)), WEIGHT_SPEC)
    return _node(
        model=tasks_pb2.ModelSpec(arch="logreg", n_features=13, n_classes=3),
        hyper=tasks_pb2.Hyperparams(
            optimizer="sgd", learning_rate_ppm=100_000, batch_size=16, local_epochs=epochs
        ),
        initial_weights=WEIGHT_FORMAT.encode(weights),
        trace=tasks_pb2.TraceSpec(every_steps=1, tolerance=64),
    )


def test_a_trace_worker_reveals_the_trace_it_committed_to_across_a_restart(tmp_path) -> None:
    node = _trace_node()
    spec = "wine:shard=0/4"

    def crash_once_committed() -> None:
        if node.txs_of("MsgCommitUpdate"):
            node.sleep_hook = lambda: None
            raise Crash

    node.sleep_hook = crash_once_committed
    with pytest.raises(Crash):
        _worker(node, tmp_path, data=spec, make_trainer=LocalTrainer).run()
    summary = _worker(node, tmp_path, data=spec, make_trainer=LocalTrainer).run()
    assert (summary.accepted_updates, summary.missed_reveals) == (2, 0)
    commits = {
        m.round: m.commitment
        for f in node.txs_of("MsgCommitUpdate")
        if (m := tx_pb2.MsgCommitUpdate.FromString(decode_tx(f["raw"]).body.messages[0].value)).worker == BOB
    }
    reveals = _reveals(node)
    assert [r.round for r in reveals] == [1, 2]
    for reveal in reveals:
        saved = load_update(tmp_path / "state", 1, reveal.round, BOB)
        assert saved is not None and (reveal.trace, reveal.data_spec, reveal.update) == (
            saved.trace,
            spec,
            saved.update,
        )
        fields = (reveal.salt, reveal.num_samples, reveal.update, reveal.trace, reveal.data_spec)
        assert commits[reveal.round] == logic.compute_commitment(
            1, reveal.round, decode_address(BOB), *fields
        )
        task = node.tc.task()
        task.model_hash = saved.model_hash  # the model of the round the trace was trained in
        assert verify_trace(
            task, reveal.round, BOB, spec, reveal.trace, b"any seed", reveal.num_samples
        ).passed


def test_a_trace_too_long_for_the_chain_is_refused_before_joining(tmp_path) -> None:
    node = _trace_node(epochs=10)  # 115 rows in batches of 16: 80 steps, 81 checkpoints > 64
    with pytest.raises(WorkerError, match="81 checkpoints, more than the chain takes"):
        _worker(node, tmp_path, data="wine", make_trainer=LocalTrainer).run()
    assert node.tc.app.tasks.get_participant(node.tc.app.store.view, 1, decode_address(BOB)) is None


def test_a_copier_prefers_an_update_the_chain_accepted_over_later_rejected_ones() -> None:
    """public_updates orders what the chain aggregated last (the source a copier takes), else oldest first."""
    attacker = Attacker(parse_worker_attack("near_copy"), None, 1, BOB)  # type: ignore[arg-type]
    good, bad, older = (UPDATE_FORMAT.encode(HONEST * k) for k in (1, -2, 3))
    attacker._seen = {(1, 10, "w-good"): good, (1, 11, "w-bad"): bad, (0, 5, "w-old"): older}
    attacker._seen[(2, 20, "later")] = bad
    assert attacker.public_updates(2) == (older, good, bad)
    assert attacker.public_updates(2, frozenset({content_hash(good)})) == (older, bad, good)
    assert attacker.public_updates(3, frozenset({content_hash(older)}))[-1] == older
