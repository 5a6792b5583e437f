"""Early close through the ABCI handlers: a phase ends with the first block that completes its work,
and never later than its deadline (app/modules/tasks/logic.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.modules.tasks import logic
from synod.tasks.v1 import tasks_pb2
from tests.integration.tasks_harness import TaskChain, update_vector

FUNDS = {"alice": 10**9, "bob": 10**9, "carol": 10**9, "dave": 10**9}
WORKERS = ("bob", "carol", "dave")
COMMIT_BLOCKS, REVEAL_BLOCKS = 3, 2
SCHEDULE = tasks_pb2.Schedule(
    rounds=1, join_blocks=2, commit_blocks=COMMIT_BLOCKS, reveal_blocks=REVEAL_BLOCKS
)


def _events(resp, kind: str) -> list[dict[str, str]]:  # noqa: ANN001
    return [{a.key: a.value for a in e.attributes} for e in resp.events if e.type == kind]


def _running_task(tc: TaskChain) -> None:
    """Task 1 posted and joined by every worker; the next block is round 1's first commit block."""
    tc.chain.init(FUNDS)
    assert tc.run(tc.post(schedule=SCHEDULE, max_workers=3)).tx_results[0].code == 0
    assert [r.code for r in tc.run(*[tc.join(w) for w in WORKERS]).tx_results] == [0, 0, 0]
    assert logic.compute_phase(tc.task()).name == logic.COMMIT


def _play_phase(
    tc: TaskChain,
    phase: str,
    acts: dict[str, int],
    send,
    complete,  # noqa: ANN001
) -> tuple[int, bool]:
    """Blocks of one phase, worker w acting in its acts[w]-th block; returns (closing height, early).

    After every block the phase has moved on exactly when its work is complete or its deadline
    has come, never otherwise.
    """
    first = tc.app.store.height + 1
    deadline = logic.compute_phase(tc.task()).end_height
    done: set[str] = set()
    for offset in range(deadline - first + 1):
        height = first + offset
        due = [w for w, at in acts.items() if at == offset]
        resp = tc.run(*[send(w) for w in due])
        assert all(r.code == 0 for r in resp.tx_results), [r.log for r in resp.tx_results]
        done |= set(due)
        closed = _events(resp, "phase_closed")
        moved_on = logic.compute_phase(tc.task()).name != phase
        if complete(done) or height == deadline:
            assert moved_on, (phase, height, deadline, done)
            if closed:  # the score phase's and the last reveal's end are the round's, not this event's
                assert closed == [
                    {"task_id": "1", "round": "1", "phase": phase, "height": str(height),
                     "early": str(height < deadline)}
                ]  # fmt: skip
            return height, height < deadline
        assert not moved_on and not closed, (phase, height, deadline, done)
    raise AssertionError("unreachable: the deadline block ends the loop")


acts = st.lists(st.one_of(st.none(), st.integers(0, COMMIT_BLOCKS)), min_size=3, max_size=3)


@settings(max_examples=60, deadline=None)
@given(commit_at=acts, reveal_at=acts)
def test_phases_close_at_the_first_complete_block_or_their_deadline(
    commit_at: list[int | None], reveal_at: list[int | None]
) -> None:
    tc = TaskChain()
    _running_task(tc)
    round_start = tc.app.store.height + 1
    committing = {w: at for w, at in zip(WORKERS, commit_at, strict=True) if at is not None}
    _, commit_early = _play_phase(
        tc,
        logic.COMMIT,
        committing,
        lambda w: tc.commit(w, 1, update_vector(WORKERS.index(w))),
        lambda done: done == set(WORKERS),
    )
    committed = {w for w, at in committing.items() if at < COMMIT_BLOCKS}
    # Early: complete before the deadline block, i.e. the last worker acted before the last block.
    assert commit_early == (committed == set(WORKERS) and max(committing.values()) < COMMIT_BLOCKS - 1)
    assert tc.app.tasks.get_progress(tc.app.store.view, 1).commits == len(committed)
    revealing = {w: at for w, at in zip(WORKERS, reveal_at, strict=True) if at is not None and w in committed}
    end, reveal_early = _play_phase(
        tc,
        logic.REVEAL,
        revealing,
        lambda w: tc.reveal(w, 1),
        lambda done: bool(committed) and done == committed,
    )
    revealed = {w for w, at in revealing.items() if at < REVEAL_BLOCKS}
    complete = bool(committed) and revealed == committed
    assert reveal_early == (complete and max(revealing.values(), default=0) < REVEAL_BLOCKS - 1)
    record = tc.app.tasks.get_round(tc.app.store.view, 1, 1)
    assert (record.start_height, record.height) == (round_start, end)
    assert (record.committed, record.revealed) == (len(committed), len(revealed))
    assert tc.task().status == tasks_pb2.TASK_STATUS_FINISHED
    assert tc.app.tasks.get_progress(tc.app.store.view, 1) == tasks_pb2.RoundProgress()  # deleted


def test_a_round_everyone_finishes_at_once_takes_two_blocks() -> None:
    tc = TaskChain()
    _running_task(tc)
    start = tc.app.store.height + 1
    resp = tc.run(*[tc.commit(w, 1, update_vector(i)) for i, w in enumerate(WORKERS)])
    assert _events(resp, "phase_closed")[0]["early"] == "True"
    resp = tc.run(*[tc.reveal(w, 1) for w in WORKERS])
    closed = next(e for e in resp.events if e.type == "round_closed")
    assert {a.key: a.value for a in closed.attributes}["outcome"] == "ROUND_OUTCOME_AGGREGATED"
    assert tc.app.tasks.get_round(tc.app.store.view, 1, 1).height == start + 1  # not start + 3 + 2 - 1
    assert not list(tc.app.tasks.iterate_commitments(tc.app.store.view, 1, 1))


def test_the_join_phase_closes_once_the_task_is_full_and_not_before() -> None:
    tc = TaskChain()
    tc.chain.init(FUNDS)
    schedule = tasks_pb2.Schedule(rounds=1, join_blocks=20, commit_blocks=3, reveal_blocks=2)
    assert tc.run(tc.post(schedule=schedule, min_workers=2, max_workers=3)).tx_results[0].code == 0
    deadline = logic.compute_join_end(tc.task())
    resp = tc.run(*[tc.join(w) for w in WORKERS[:2]])  # enough to run, not full: joining stays open
    assert [r.code for r in resp.tx_results] == [0, 0] and tc.task().status == tasks_pb2.TASK_STATUS_JOINING
    tc.run()
    assert tc.task().status == tasks_pb2.TASK_STATUS_JOINING
    resp = tc.run(tc.join(WORKERS[2]))  # the last seat: round 1 starts at the next height
    height = tc.app.store.height
    assert [e["height"] for e in _events(resp, "task_started")] == [str(height)] and height < deadline
    task = tc.task()
    assert task.status == tasks_pb2.TASK_STATUS_RUNNING and task.round_start_height == height + 1
    tc.advance_to(deadline + 2)  # the join deadline passes without a second start
    assert tc.task().round_start_height == height + 1
