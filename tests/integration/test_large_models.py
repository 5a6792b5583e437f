"""Large models through the ABCI handlers: updates revealed in parts, weights derived from a seed,
checkpoints pruned under the retention policy, and aggregation work bounded at post time."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from google.protobuf.json_format import MessageToDict

from app.client.tasktx import msg_reveal, post_task_gas, reveal_messages
from app.core.architectures import compute_layout, param_count
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT, content_hash
from app.core.initializers import compute_seeded_weights
from app.modules.services import get_service
from app.modules.tasks import keys, logic
from app.modules.tasks.hooks import compute_kept_checkpoints
from app.modules.tasks.logic import MIN_PART_BYTES
from app.modules.tasks.params import default_params
from synod.tasks.v1 import query_pb2, tasks_pb2, tx_pb2
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import test_key
from tests.integration.tasks_harness import N_CLASSES, N_FEATURES, TaskChain, post_msg

FUNDS = {"alice": 10**12, "bob": 10**12, "carol": 10**12, "dave": 10**12}
WORKERS = ("bob", "carol", "dave")
ARCH = "mlp:8192"  # 98,307 parameters: a 196,614-byte update is two 64 KiB parts and a tail
SIZE = param_count(ARCH, N_FEATURES, N_CLASSES)
MODEL = tasks_pb2.ModelSpec(arch=ARCH, n_features=N_FEATURES, n_classes=N_CLASSES)
SEED = b"large-model-seed"
GAS = 40_000_000


def _chain(**params: int) -> TaskChain:
    tc = TaskChain()
    overrides = MessageToDict(default_params(), preserving_proto_field_name=True)
    overrides.update({name: str(value) for name, value in params.items()})
    tc.chain.init(FUNDS, {"tasks": {"params": overrides}})
    return tc


def _codes(resp) -> list[tuple[str, int]]:  # noqa: ANN001
    return [(r.codespace, r.code) for r in resp.tx_results]


def _ok(resp) -> None:  # noqa: ANN001
    assert all(r.code == 0 for r in resp.tx_results), [r.log for r in resp.tx_results]


def _post(tc: TaskChain, rounds: int = 2) -> None:
    _ok(tc.run(tc.chain.tx("alice", [_post_msg(rounds)], gas=GAS)))
    _ok(tc.run(*[tc.join(w) for w in WORKERS]))


def _post_msg(rounds: int = 2, **overrides: object) -> tx_pb2.MsgPostTask:
    fields: dict[str, object] = {
        "model": MODEL,
        "initial_weights": b"",
        "init_seed": SEED,
        "schedule": tasks_pb2.Schedule(rounds=rounds, join_blocks=2, commit_blocks=3, reveal_blocks=12),
    }
    return post_msg("alice", **{**fields, **overrides})


def _vector(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-(1 << 11), 1 << 11, SIZE, dtype=np.int64)


def _commit_all(tc: TaskChain, round_: int) -> dict[str, bytes]:
    tc.advance_to_phase(logic.COMMIT, round_)
    vectors = {w: _vector(10 * round_ + i) for i, w in enumerate(WORKERS)}
    _ok(tc.run(*[tc.commit(w, round_, v, samples=100) for w, v in vectors.items()]))
    tc.advance_to_phase(logic.REVEAL, round_)
    return {w: UPDATE_FORMAT.encode(v) for w, v in vectors.items()}


def _reveal_whole(tc: TaskChain, worker: str, round_: int) -> bytes:
    salt, samples, payload = tc.pending[(worker, round_)]
    return tc.chain.tx(
        worker, [msg_reveal(test_key(worker).address, 1, round_, salt, samples, payload)], gas=GAS
    )


def _reveal_in_parts(
    tc: TaskChain, worker: str, round_: int, part_bytes: int = MIN_PART_BYTES
) -> list[bytes]:
    """The worker's part txs and closing reveal, as the agent builds them."""
    salt, samples, payload = tc.pending[(worker, round_)]
    parts, reveal, read_gas = reveal_messages(
        test_key(worker).address, 1, round_, salt, samples, payload, part_bytes=part_bytes
    )
    assert parts, "the test model must be large enough to need parts"
    return [tc.chain.tx(worker, [p], gas=GAS) for p in parts] + [
        tc.chain.tx(worker, [reveal], gas=2_000_000 + read_gas)
    ]


def test_seeded_initial_weights_are_the_chains_integer_glorot_init() -> None:
    tc = _chain()
    _post(tc)
    task = tc.task()
    layout = compute_layout(ARCH, (N_FEATURES,), N_CLASSES)
    expected = WEIGHT_FORMAT.encode(compute_seeded_weights(layout, SEED))
    assert task.model_hash == content_hash(expected)
    answer = tc.chain.ask("tasks", "Model", query_pb2.QueryModelRequest(task_id=1, round=0))
    assert answer.weights == expected


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"initial_weights": b"\x00" * 4 * SIZE}, "not both"),
        ({"init_seed": b""}, "init_seed of 1-64 bytes"),
        ({"init_seed": b"x" * 65}, "init_seed of 1-64 bytes"),
    ],
)
def test_a_post_needs_exactly_one_of_weights_and_seed(overrides: dict, needle: str) -> None:
    tc = _chain()
    resp = tc.run(tc.chain.tx("alice", [_post_msg(**overrides)], gas=GAS))
    assert _codes(resp) == [("tasks", 2)]
    assert needle in resp.tx_results[0].log


def test_an_update_revealed_in_parts_aggregates_exactly_as_one_revealed_whole() -> None:
    """Two chains, the same commitments; one reveals every update whole, the other in parts. After
    aggregation their tasks state is identical: parts leave nothing behind."""
    whole, parted = _chain(), _chain()
    for tc in (whole, parted):
        _post(tc, rounds=1)
        _commit_all(tc, 1)
    # Two blocks each, so that the round stays open for the query below and both chains close it
    # at the same height: bob and carol, then dave.
    _ok(whole.run(*[_reveal_whole(whole, w, 1) for w in WORKERS[:2]]))
    txs = [tx for w in WORKERS[:2] for tx in _reveal_in_parts(parted, w, 1)]
    resp = parted.run(*txs)
    _ok(resp)
    parts = len(txs) // 2 - 1
    assert parts == 3  # 196,614 bytes: three 64 KiB parts and a 6-byte tail
    assert sum(e.type == "reveal_part" for r in resp.tx_results for e in r.events) == parts * 2
    # The revealed update is served whole, parts and all, and hashes to the reveal's update_hash.
    bob = test_key("bob").address
    answer = parted.chain.ask("tasks", "Update", query_pb2.QueryUpdateRequest(task_id=1, round=1, worker=bob))
    assert answer.update == parted.pending[("bob", 1)][2]
    assert content_hash(answer.update) == answer.reveal.update_hash
    _ok(whole.run(_reveal_whole(whole, "dave", 1)))
    _ok(parted.run(*_reveal_in_parts(parted, "dave", 1)))
    for tc in (whole, parted):
        tc.advance_past_round(1)
    assert whole.task().rounds_done == parted.task().rounds_done == 1
    assert whole.task().model_hash == parted.task().model_hash
    # Fees differ (parts are more txs), so compare the tasks module's state, key by key.
    prefix = keys.STORE_PREFIX
    assert dict(whole.app.store.view.iterate(prefix)) == dict(parted.app.store.view.iterate(prefix))
    view = parted.app.store.view
    assert not list(view.iterate(keys.STORE_PREFIX + keys.PART))
    assert not list(view.iterate(keys.STORE_PREFIX + keys.STAGED))


def test_parts_are_refused_out_of_phase_out_of_order_twice_too_small_or_past_the_end() -> None:
    tc = _chain()
    _post(tc)
    tc.advance_to_phase(logic.COMMIT, 1)
    bob = test_key("bob").address
    # Before the reveal phase (and without a commitment) a part is refused.
    salt = hashlib.sha256(b"s").digest()
    payload = UPDATE_FORMAT.encode(_vector(1))
    parts, _, _ = reveal_messages(bob, 1, 1, salt, 100, payload, part_bytes=MIN_PART_BYTES)
    assert _codes(tc.run(tc.chain.tx("bob", [parts[0]], gas=GAS))) == [("tasks", 4)]
    updates = _commit_all(tc, 1)
    parts, reveal, read_gas = reveal_messages(
        bob, 1, 1, *tc.pending[("bob", 1)][:2], updates["bob"], part_bytes=MIN_PART_BYTES
    )
    # Out of order, then in order, then the same index again.
    assert _codes(tc.run(tc.chain.tx("bob", [parts[1]], gas=GAS))) == [("tasks", 12)]
    assert _codes(tc.run(tc.chain.tx("bob", [parts[0]], gas=GAS))) == [("", 0)]
    assert _codes(tc.run(tc.chain.tx("bob", [parts[0]], gas=GAS))) == [("tasks", 11)]
    # Too small a part fails its stateless check; one past the update's end is refused.
    tiny = tx_pb2.MsgRevealPart(worker=bob, task_id=1, round=1, data=b"\x00" * 1024, index=1)
    assert _codes(tc.run(tc.chain.tx("bob", [tiny], gas=GAS))) == [("tasks", 12)]
    huge = tx_pb2.MsgRevealPart(worker=bob, task_id=1, round=1, data=b"\x00" * (2 * SIZE), index=1)
    resp = tc.run(tc.chain.tx("bob", [huge], gas=GAS))
    assert _codes(resp) == [("tasks", 12)] and "would pass the end" in resp.tx_results[0].log
    # Revealing with parts missing fails on the size; staging them lets the same reveal land.
    assert _codes(tc.run(tc.chain.tx("bob", [reveal], gas=2_000_000 + read_gas))) == [("tasks", 12)]
    assert _codes(tc.run(*[tc.chain.tx("bob", [p], gas=GAS) for p in parts[1:]])) == [("", 0)] * 2
    assert _codes(tc.run(tc.chain.tx("bob", [reveal], gas=2_000_000 + read_gas))) == [("", 0)]
    # Once revealed, no more parts.
    again = tx_pb2.MsgRevealPart(worker=bob, task_id=1, round=1, data=parts[0].data, index=3)
    assert _codes(tc.run(tc.chain.tx("bob", [again], gas=GAS))) == [("tasks", 11)]


def test_parts_never_revealed_are_cleared_with_the_round_and_the_worker_misses() -> None:
    tc = _chain()
    _post(tc)
    _commit_all(tc, 1)
    parted = _reveal_in_parts(tc, "bob", 1)
    _ok(tc.run(*parted[:-1]))  # parts staged, the closing reveal never sent
    _ok(tc.run(*[_reveal_whole(tc, w, 1) for w in ("carol", "dave")]))
    tc.advance_past_round(1)
    record = tc.chain.ask("tasks", "Rounds", query_pb2.QueryRoundsRequest(task_id=1)).rounds[1]
    assert record.missed_workers == [test_key("bob").address]
    view = tc.app.store.view
    assert not list(view.iterate(keys.STORE_PREFIX + keys.part_key(1, 1)))


def test_old_checkpoints_are_pruned_to_the_retention_budget_and_answer_pruned() -> None:
    checkpoint = 4 * SIZE
    tc = _chain(checkpoint_retention_bytes=3 * checkpoint)  # keeps the newest three
    assert compute_kept_checkpoints(tc.app.tasks.get_params(tc.app.store.view), checkpoint) == 3
    _post(tc, rounds=4)
    for round_ in range(1, 5):
        _commit_all(tc, round_)
        _ok(tc.run(*[_reveal_whole(tc, w, round_) for w in WORKERS]))
        tc.advance_past_round(round_)
    records = tc.chain.ask("tasks", "Rounds", query_pb2.QueryRoundsRequest(task_id=1)).rounds
    assert [r.pruned for r in records] == [True, True, False, False, False]
    view = tc.app.store.view
    for record in records:
        stored = view.get(keys.STORE_PREFIX + keys.model_key(record.model_hash))
        assert (stored is None) == record.pruned
    service = get_service("tasks")
    request = query_pb2.QueryModelRequest(task_id=1, round=1)
    answer = tc.chain.abci.query(
        abci.RequestQuery(path=service.path("Model"), data=request.SerializeToString())
    )
    assert (answer.codespace, answer.code) == ("tasks", 17)
    assert "pruned" in answer.log and records[1].model_hash.hex() in answer.log
    newest = tc.chain.ask("tasks", "Model", query_pb2.QueryModelRequest(task_id=1, round=4))
    assert content_hash(newest.weights) == records[4].model_hash


def test_a_checkpoint_shared_by_two_tasks_outlives_one_of_them_pruning_it() -> None:
    """Weights are content-addressed: the same round-0 weights in two tasks are one stored value,
    released only when neither task's records retain it."""
    tc = _chain(checkpoint_retention_bytes=1)  # the minimum: the newest two
    _post(tc, rounds=3)
    _ok(tc.run(tc.chain.tx("alice", [_post_msg(3)], gas=GAS)))  # task 2, the same seed and model
    initial = tc.task(1).model_hash
    assert tc.task(2).model_hash == initial
    for round_ in (1, 2):
        _commit_all(tc, round_)
        _ok(tc.run(*[_reveal_whole(tc, w, round_) for w in WORKERS]))
        tc.advance_past_round(round_)
    records = tc.chain.ask("tasks", "Rounds", query_pb2.QueryRoundsRequest(task_id=1)).rounds
    assert records[0].pruned
    view = tc.app.store.view
    assert view.get(keys.STORE_PREFIX + keys.model_key(initial)) is not None  # task 2 still holds it
    answer = tc.chain.ask("tasks", "Model", query_pb2.QueryModelRequest(task_id=2, round=0))
    assert content_hash(answer.weights) == initial


def test_a_task_whose_aggregation_exceeds_the_work_bound_is_refused_at_post() -> None:
    tc = _chain(max_aggregation_work=SIZE * 4)  # krum over 3 is 4.5 x SIZE, the mean 3 x SIZE
    krum = tasks_pb2.Aggregation(rule="krum", params=[tasks_pb2.AggregationParam(name="byzantine", value=0)])
    resp = tc.run(tc.chain.tx("alice", [_post_msg(aggregation=krum, min_workers=3)], gas=GAS))
    assert _codes(resp) == [("tasks", 2)]
    assert "entry operations a round" in resp.tx_results[0].log
    _ok(tc.run(tc.chain.tx("alice", [_post_msg()], gas=GAS)))  # the mean over 3 workers fits


def test_the_weights_a_seeded_post_makes_validators_store_are_paid_for_in_gas() -> None:
    """A few hundred bytes of post make every validator store 4 bytes a parameter: the derived
    write is metered like any other, so a post that does not pay for it runs out of gas."""
    tc = _chain()
    msg = _post_msg()
    resp = tc.run(tc.chain.tx("alice", [msg], gas=2_000_000))  # enough for the msg bytes, not the weights
    assert _codes(resp) == [("sdk", 11)]
    assert tc.app.tasks.get_task(tc.app.store.view, 1) is None
    _ok(tc.run(tc.chain.tx("alice", [msg], gas=post_task_gas(msg))))  # what the client asks for suffices
