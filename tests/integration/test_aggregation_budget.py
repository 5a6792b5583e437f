"""The tasks module's per-block aggregation budget (max_block_aggregation_work): rounds closing at one
aggregated in task id order while the block's work stays within tasks.max_block_aggregation_work,
the rest in later blocks, with the same results; a closing round takes no more messages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from google.protobuf.json_format import MessageToDict
from hypothesis import given, settings
from hypothesis import strategies as st

from app.client.tasktx import msg_commit, msg_join, msg_reveal
from app.core.fixedpoint import UPDATE_FORMAT
from app.modules.committee.nearcopy import compute_near_copy_work
from app.modules.tasks import logic
from app.modules.tasks.params import default_params
from synod.tasks.v1 import query_pb2, tasks_pb2
from tests.integration.harness import Chain, test_bls_key, test_key
from tests.integration.staking_harness import cons_address
from tests.integration.tasks_harness import SIZE, TASK_GAS, post_msg, update_vector
from tests.integration.test_committee import MEMBERS, msg_attest
from tests.integration.test_committee import _genesis as committee_genesis

FUNDS = {
    "alice": 10**10,
    "bob": 10**10,
    "carol": 10**10,
    "dave": 10**10,
    "v1": 10**13,
    "v2": 10**13,
    "v3": 10**13,
}
WORKERS = ("bob", "carol", "dave")
SCHEDULE = tasks_pb2.Schedule(rounds=2, join_blocks=4, commit_blocks=3, reveal_blocks=3)
MEAN = tasks_pb2.Aggregation(rule="mean")
KRUM = tasks_pb2.Aggregation(rule="krum", params=[tasks_pb2.AggregationParam(name="byzantine", value=0)])
MEDIAN = tasks_pb2.Aggregation(rule="median")
# Every tiny round here is priced at its bookkeeping, STEP_WORK + 3 reveals x UPDATE_WORK, plus the
# committee judge's near-copy check of 3 reveals against at most max_workers = 3 kept updates.
ROUND_WORK = logic.STEP_WORK + 3 * logic.UPDATE_WORK + compute_near_copy_work(3, 3, SIZE)


@dataclass
class Run:
    """A chain driving K tiny tasks, logging every block's txs, app hash and events."""

    budget: int
    chain: Chain = field(default_factory=Chain)
    blocks: list[list[bytes]] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    events: dict[int, list[tuple[str, dict[str, str]]]] = field(default_factory=dict)
    reveal_by: dict[int, tuple[str, ...]] = field(default_factory=dict)  # task -> workers that reveal
    genesis: dict = field(default_factory=dict)  # other modules' genesis

    def start(
        self, rules: list[tasks_pb2.Aggregation], schedules: list[tasks_pb2.Schedule] | None = None
    ) -> None:
        """Genesis with the budget, K tasks posted in one block and filled in the next."""
        self.chain.init(FUNDS, {**self.genesis, "tasks": {"params": _params(self.budget)}})
        posts = [
            post_msg("alice", schedule=schedule, aggregation=rule, min_workers=3)
            for rule, schedule in zip(rules, schedules or [SCHEDULE] * len(rules), strict=True)
        ]
        assert not any(self.block([self.chain.tx("alice", posts, gas=TASK_GAS * len(rules))]))
        ids = range(1, len(rules) + 1)
        joins = [self.chain.tx(w, [msg_join(_addr(w), t) for t in ids], gas=TASK_GAS) for w in WORKERS]
        assert not any(self.block(joins))

    def block(self, txs: list[bytes]) -> list[int]:
        """One logged block; returns the tx result codes."""
        resp = self.chain.block(txs)
        self.chain.resync_sequences()
        self.blocks.append(txs)
        self.hashes.append(self.chain.app.store.app_hash.hex())
        self.events[self.chain.app.store.height] = [
            (e.type, {a.key: a.value for a in e.attributes}) for e in resp.events
        ]
        return [r.code for r in resp.tx_results]

    def task(self, task_id: int) -> tasks_pb2.Task:
        return self.chain.app.tasks.require_task(self.chain.app.store.view, task_id)

    def step(self, task_ids: list[int]) -> None:
        """One block: every worker commits to (or reveals) every task in its commit (reveal) phase."""
        txs = []
        for worker in WORKERS:
            msgs = []
            for t in task_ids:
                phase = logic.compute_phase(self.task(t))
                update = _update(t, phase.round, worker)
                if phase.name == logic.COMMIT and not self._committed(t, phase.round, worker):
                    msgs.append(msg_commit(_addr(worker), t, phase.round, *update))
                elif phase.name == logic.REVEAL and self._reveals(t, phase.round, worker):
                    msgs.append(msg_reveal(_addr(worker), t, phase.round, *update))
            if msgs:
                txs.append(self.chain.tx(worker, msgs, gas=TASK_GAS * len(msgs)))
        assert all(code == 0 for code in self.block(txs))

    def finish(self, task_ids: list[int], limit: int = 60) -> None:
        """Blocks until every task is finished."""
        for _ in range(limit):
            if all(self.task(t).status == tasks_pb2.TASK_STATUS_FINISHED for t in task_ids):
                return
            self.step(task_ids)
        raise AssertionError("tasks never finished")

    def _committed(self, t: int, round_: int, worker: str) -> bool:
        view = self.chain.app.store.view
        return self.chain.app.tasks.get_commitment(view, t, round_, _raw(worker)) is not None

    def _reveals(self, t: int, round_: int, worker: str) -> bool:
        """Whether worker reveals task t's round now: one of its revealers, not revealed yet."""
        view = self.chain.app.store.view
        done = self.chain.app.tasks.get_reveal(view, t, round_, _raw(worker)) is not None
        return worker in self.reveal_by.get(t, WORKERS) and not done

    def closed(self, kind: str) -> list[tuple[int, dict[str, str]]]:
        """(height, attributes) of every event of kind, in block order."""
        return [(h, attrs) for h, evs in sorted(self.events.items()) for k, attrs in evs if k == kind]

    def records(self, task_id: int) -> list[tasks_pb2.RoundRecord]:
        view = self.chain.app.store.view
        return [r for r in self.chain.app.tasks.iterate_rounds(view, task_id) if r.round]


def _params(budget: int) -> dict[str, str]:
    """tasks params (genesis JSON) with both work bounds at budget."""
    params = MessageToDict(default_params(), preserving_proto_field_name=True)
    params.update(max_aggregation_work=str(budget), max_block_aggregation_work=str(budget))
    return params


def _addr(worker: str) -> str:
    return test_key(worker).address


def _raw(worker: str) -> bytes:
    from app.core.crypto import decode_address

    return decode_address(_addr(worker))


def _update(task_id: int, round_: int, worker: str) -> tuple[bytes, int, bytes]:
    """(salt, samples, payload) of a worker's update: distinct per task, round and worker."""
    salt = hashlib.sha256(f"{task_id}/{round_}/{worker}".encode()).digest()
    vector = update_vector(1000 * task_id + 10 * round_ + WORKERS.index(worker))
    return salt, 100 + WORKERS.index(worker), UPDATE_FORMAT.encode(vector)


def _block_work(run: Run) -> dict[int, list[int]]:
    """The priced work of the rounds each block aggregated (from its round_closed events)."""
    work: dict[int, list[int]] = {}
    for height, attrs in run.closed("round_closed"):
        task = run.task(int(attrs["task_id"]))
        revealed = int(attrs["revealed"])
        judging = run.chain.app.update_judge.get_judging_work(run.chain.app.store.view, task, revealed)
        work.setdefault(height, []).append(logic.compute_step_work(task, revealed) + judging)
    return work


def _assert_within_budget(run: Run) -> None:
    """Every block's aggregation stays within the budget, or is a single round."""
    for height, works in _block_work(run).items():
        assert len(works) == 1 or sum(works) <= run.budget, (height, works, run.budget)


def _models(run: Run, task_ids: list[int]) -> list[list[bytes]]:
    return [[r.model_hash for r in run.records(t)] for t in task_ids]


def test_rounds_closing_at_one_height_spread_over_blocks_in_id_order_with_the_same_models() -> None:
    rules = [MEAN, KRUM, MEDIAN, MEAN, KRUM]
    ids = list(range(1, 6))
    run = Run(budget=2 * ROUND_WORK)  # two rounds a block
    run.start(rules)
    run.step(ids)  # every commitment: the commit phases close early, together
    run.step(ids)  # every reveal: the five rounds close at this height
    closed_at = run.chain.app.store.height
    done = [(h, int(a["task_id"])) for h, a in run.closed("round_closed")]
    assert done == [(closed_at, 1), (closed_at, 2)]
    deferred = [(h, a["task_id"], a["round"], a["phase"]) for h, a in run.closed("aggregation_deferred")]
    assert deferred == [(closed_at, str(t), "1", "reveal") for t in (3, 4, 5)]
    answer = run.chain.ask("tasks", "Task", query_pb2.QueryTaskRequest(task_id=4))
    assert (answer.phase, answer.round, answer.phase_end_height) == ("closing", 1, closed_at)
    assert answer.task.closed_height == closed_at
    run.block([])
    run.block([])
    round1 = [(h, int(a["task_id"])) for h, a in run.closed("round_closed")]
    assert round1 == [
        (closed_at, 1),
        (closed_at, 2),
        (closed_at + 1, 3),
        (closed_at + 1, 4),
        (closed_at + 2, 5),
    ]
    assert [run.records(t)[0].closed_height for t in ids] == [0, 0, closed_at, closed_at, closed_at]
    assert [run.records(t)[0].height for t in ids] == [h for h, _ in round1]
    # Each task's next round starts the block after its own aggregation.
    assert [run.task(t).round_start_height for t in ids] == [h + 1 for h, _ in round1]
    run.finish(ids)
    _assert_within_budget(run)

    free = Run(budget=default_params().max_block_aggregation_work)  # no deferral
    free.start(rules)
    free.finish(ids)
    assert not free.closed("aggregation_deferred")
    assert _models(run, ids) == _models(free, ids)
    assert all(r.outcome == tasks_pb2.ROUND_OUTCOME_AGGREGATED for t in ids for r in run.records(t))


def test_a_late_reveal_for_a_deferred_round_is_refused_and_counts_as_missed() -> None:
    run = Run(budget=ROUND_WORK)  # one round a block
    run.reveal_by = {2: ("bob", "carol")}  # dave holds back: task 2's reveal phase runs to its deadline
    run.start([MEAN, MEAN])
    run.step([1, 2])
    run.reveal_by[1] = ("bob", "carol")  # both run to the same deadline
    deadline = logic.compute_phase(run.task(2)).end_height
    while run.chain.app.store.height < deadline:
        run.step([1, 2])
    assert [a["task_id"] for _, a in run.closed("aggregation_deferred")] == ["2"]
    assert logic.compute_phase(run.task(2)).name == logic.CLOSING
    late = msg_reveal(_addr("dave"), 2, 1, *_update(2, 1, "dave"))
    resp = run.chain.block([run.chain.tx("dave", [late], gas=TASK_GAS)])
    run.chain.resync_sequences()
    assert [(r.codespace, r.code) for r in resp.tx_results] == [("tasks", 4)]
    assert "closed at height" in resp.tx_results[0].log
    record = run.records(2)[0]
    assert (record.height, record.closed_height) == (deadline + 1, deadline)
    assert record.missed_workers == [_addr("dave")] and record.revealed == 2
    commit = msg_commit(_addr("bob"), 1, 2, *_update(1, 2, "bob"))  # the next round of task 1 is open
    assert run.block([run.chain.tx("bob", [commit], gas=TASK_GAS)]) == [0]


def test_a_deferred_score_phase_takes_no_attestation_and_a_deferred_sampling_waits() -> None:
    """Two scored tasks whose reveal phases close together: the budget (one step a block) samples
    task 2's committee a block later; their score phases (3 and 2 blocks) then end together and
    task 2's round waits, refusing a member's late attestation."""
    members = {cons_address(n): test_bls_key(n) for n in MEMBERS}
    run = Run(budget=100_000, chain=Chain(beacon_keys=members), genesis=committee_genesis())
    slow, fast = (tasks_pb2.Schedule(**{**_fields(SCHEDULE), "rounds": 1, "score_blocks": b}) for b in (3, 2))
    run.start([MEAN, MEAN], [slow, fast])
    run.step([1, 2])
    run.step([1, 2])  # every reveal: both reveal phases close here
    revealed_at = run.chain.app.store.height
    deferred = [(h, a["task_id"], a["phase"]) for h, a in run.closed("aggregation_deferred")]
    assert deferred == [(revealed_at, "2", "reveal")]
    assert logic.compute_phase(run.task(2)).name == logic.CLOSING
    assert run.chain.app.committee.get_committee(run.chain.app.store.view, 2, 1) is None
    run.block([])
    sampled = run.chain.app.committee.get_committee(run.chain.app.store.view, 2, 1)
    assert sampled is not None and sampled.height == revealed_at + 1
    end = revealed_at + 4  # score phases [+1, +3] and [+2, +3]: both end in the end-block of +3
    while run.chain.app.store.height < end - 1:
        run.block([])
    assert [(h, a["task_id"], a["phase"]) for h, a in run.closed("aggregation_deferred")][1:] == [
        (end - 1, "2", "score")
    ]
    workers = list(sampled.workers)
    attest = msg_attest(_addr("v1"), 2, 1, 5000, [(w, 5000) for w in workers])
    resp = run.chain.block([run.chain.tx("v1", [attest])])
    run.chain.resync_sequences()
    assert [(r.codespace, r.code) for r in resp.tx_results[1:]] == [("committee", 8)]
    assert [int(a["task_id"]) for _, a in run.closed("round_closed")] == [1]
    assert run.task(2).status == tasks_pb2.TASK_STATUS_FINISHED
    assert run.records(2)[0].closed_height == end - 1


def _fields(message: object) -> dict:
    return {f.name: v for f, v in message.ListFields()}  # type: ignore[attr-defined]


@settings(max_examples=20, deadline=None)
@given(
    k=st.integers(1, 6),
    per_block=st.integers(1, 4),
    slack=st.integers(0, ROUND_WORK - 1),
    revealing=st.lists(st.integers(1, 2), min_size=6, max_size=6),
)
def test_the_budget_holds_and_every_round_runs_within_the_fifo_bound(
    k: int, per_block: int, slack: int, revealing: list[int]
) -> None:
    """Rounds of 1 or 2 reveals (priced below ROUND_WORK) all close at their common deadline."""
    run = Run(budget=per_block * ROUND_WORK + slack)
    run.reveal_by = {t: WORKERS[: revealing[t - 1]] for t in range(1, k + 1)}
    ids = list(range(1, k + 1))
    run.start([MEAN] * k)
    run.step(ids)
    closed_at = logic.compute_phase(run.task(1)).end_height
    while run.chain.app.store.height < closed_at:
        run.step(ids)
    for _ in range(k):
        run.block([])
    round1 = [(h, int(a["task_id"])) for h, a in run.closed("round_closed") if a["round"] == "1"]
    assert [t for _, t in round1] == ids  # first closed, first aggregated: by task id
    heights = [h for h, _ in round1]
    assert heights[0] == closed_at and heights == sorted(heights)
    # The budget fits per_block of the dearest round, so each block runs at least per_block rounds.
    assert heights[-1] <= closed_at + -(-k // per_block) - 1
    deferred = [int(a["task_id"]) for _, a in run.closed("aggregation_deferred")]
    assert deferred == [t for h, t in round1 if h > closed_at]
    _assert_within_budget(run)


def test_two_apps_replaying_the_same_blocks_agree_on_every_app_hash() -> None:
    run = Run(budget=ROUND_WORK)
    run.reveal_by = {3: ("bob",)}
    run.start([MEAN, KRUM, MEAN])
    run.finish([1, 2, 3])
    assert run.closed("aggregation_deferred")
    replay = Chain()
    replay.init(FUNDS, {"tasks": {"params": _params(ROUND_WORK)}})
    hashes = []
    for txs in run.blocks:
        replay.block(txs)
        hashes.append(replay.app.store.app_hash.hex())
    assert hashes == run.hashes
