"""Nobody scores its own update: a member that revealed an update of the round gets no seat in it."""

from __future__ import annotations

from app.modules.tasks import logic
from tests.integration.tasks_harness import TaskChain, update_vector
from tests.integration.test_committee import SCHEDULE, _addr, _run_ok, tc  # noqa: F401


def test_a_member_who_is_a_worker_of_the_round_gets_no_seat(tc: TaskChain) -> None:  # noqa: F811
    _run_ok(tc, tc.post(schedule=SCHEDULE))
    task = tc.task()
    _run_ok(tc, *[tc.join(w) for w in ("bob", "carol", "v1")])
    tc.advance_to_phase(logic.COMMIT, 1)
    updates = {"bob": update_vector(1), "carol": update_vector(2), "v1": update_vector(3)}
    _run_ok(tc, *[tc.commit(w, 1, u) for w, u in updates.items()])
    tc.advance_to_phase(logic.REVEAL, 1)
    _run_ok(tc, *[tc.reveal(w, 1) for w in updates])
    tc.advance_to_phase(logic.SCORE, 1)
    committee = tc.app.committee.get_committee(tc.app.store.view, task.id, 1)
    assert _addr("v1") in committee.workers
    assert sorted(s.operator for s in committee.seats) == sorted(_addr(m) for m in ("v2", "v3"))
