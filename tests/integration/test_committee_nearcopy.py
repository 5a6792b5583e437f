"""Near-copy free riding through the ABCI handlers: caught by the cosine rule, slashed like a replay.

A free rider reveals another worker's earlier update, scaled and with a little noise: new bytes, so
the exact-replay check passes it, but its cosine with the kept update is above
near_copy_threshold_bps, so it is REPLAYED, left out of the aggregate and slashed. Within one round a
near-copy pair is left out (both) but nobody is slashed: an attacker who copies an honest worker's
update cannot get that worker slashed.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.core.crypto import decode_address
from app.modules.committee import nearcopy
from app.modules.tasks import logic
from synod.committee.v1 import committee_pb2
from tests.integration.tasks_harness import TaskChain, update_vector
from tests.integration.test_committee import (
    MEMBERS,
    SCHEDULE,
    WORKERS,
    _addr,
    _attestation,
    _commit_and_reveal,
    _play,
    _run_ok,
    _scores,
    _verdicts,
    tc,
)

__all__ = ["tc"]  # the fixture, re-exported for pytest

REPLAYED = committee_pb2.VERDICT_REPLAYED
EXCLUDED = committee_pb2.VERDICT_NEAR_COPY_EXCLUDED
ACCEPTED = committee_pb2.VERDICT_ACCEPTED


def _noisy_copy(source: np.ndarray, scale_num: int, scale_den: int, seed: int) -> np.ndarray:
    """scale x source plus integer noise of a few units per coordinate: new bytes, same direction."""
    noise = np.random.default_rng(seed).integers(-8, 9, source.shape, dtype=np.int64)
    return source * scale_num // scale_den + noise


def _cosine_bps(a: np.ndarray, b: np.ndarray) -> int:
    x, y = a.astype(object), b.astype(object)
    return nearcopy.compute_cosine_bps(int(x @ y), int(x @ x), int(y @ y))


def _attest_all(tc: TaskChain, round_: int, scores: dict[str, int]) -> None:
    """Every member attests the same honest scores, so no member is at fault."""
    _commit_and_reveal(tc, {m: _attestation(tc, m, round_, 5000, scores) for m in MEMBERS})


def test_a_near_copy_of_an_earlier_update_is_replayed_and_slashed(tc: TaskChain) -> None:
    _run_ok(tc, tc.post(schedule=SCHEDULE))
    task = tc.task()
    _run_ok(tc, *[tc.join(w) for w in WORKERS])
    bob1 = update_vector(1)
    _play(tc, task, 1, {"bob": bob1, "carol": update_vector(2), "dave": update_vector(5)})
    _attest_all(tc, 1, {"bob": 8000, "carol": 8100, "dave": 8000})
    assert _verdicts(_scores(tc, 1)) == dict.fromkeys(WORKERS, ACCEPTED)
    # dave reveals twice bob's accepted round-1 update plus noise: new bytes, bob's direction.
    copy = _noisy_copy(bob1, 2, 1, seed=9)
    assert _cosine_bps(copy, bob1) >= tc.app.committee.get_params(tc.app.store.view).near_copy_threshold_bps
    _play(tc, task, 2, {"bob": update_vector(3), "carol": update_vector(4), "dave": copy})
    assert tc.pending[("dave", 2)][2] != tc.pending[("bob", 1)][2]  # not an exact replay
    scores = {"bob": 8200, "carol": 8300, "dave": 8400}
    resp = _commit_and_reveal(tc, {m: _attestation(tc, m, 2, 5000, scores) for m in MEMBERS})
    events = {e.type: {a.key: a.value for a in e.attributes} for e in resp.events}
    assert events["near_copies"]["slashed"] == _addr("dave") and events["near_copies"]["excluded"] == ""
    tc.advance_past_round(2)
    assert _verdicts(_scores(tc, 2)) == {"bob": ACCEPTED, "carol": ACCEPTED, "dave": REPLAYED}
    record = tc.app.tasks.get_round(tc.app.store.view, 1, 2)
    assert sorted(record.accepted_workers) == sorted([_addr("bob"), _addr("carol")])
    assert list(record.rejected_workers) == [_addr("dave")]
    fraction = tc.app.tasks.get_params(tc.app.store.view).rejected_update_slash_bps
    dave = tc.participant("dave")
    assert dave.rejected_updates == 1 and int(dave.slashed) == 1000 * fraction // 10_000
    assert tc.participant("bob").rejected_updates == 0 and tc.participant("bob").slashed in ("", "0")


@pytest.mark.parametrize("exact", [False, True])
def test_an_honest_worker_copied_in_its_own_round_is_not_slashed(tc: TaskChain, exact: bool) -> None:
    _run_ok(tc, tc.post(schedule=SCHEDULE))
    _run_ok(tc, *[tc.join(w) for w in WORKERS])
    bob1 = update_vector(1)
    # dave obtained bob's update before committing: a near copy, or bob's exact bytes.
    copy = bob1.copy() if exact else _noisy_copy(bob1, 3, 2, seed=11)
    tc.advance_to_phase(logic.COMMIT, 1)
    updates = {"bob": bob1, "carol": update_vector(2), "dave": copy}
    _run_ok(tc, *[tc.commit(w, 1, u) for w, u in updates.items()])
    tc.advance_to_phase(logic.REVEAL, 1)
    # dave reveals first, hoping the later revealer (bob) is blamed; then bob and carol.
    _run_ok(tc, tc.reveal("dave", 1))
    _run_ok(tc, tc.reveal("bob", 1), tc.reveal("carol", 1))
    tc.advance_to_phase(logic.SCORE, 1)
    _attest_all(tc, 1, {"bob": 8000, "carol": 8100, "dave": 8000})
    assert _verdicts(_scores(tc, 1)) == {"bob": EXCLUDED, "carol": ACCEPTED, "dave": EXCLUDED}
    record = tc.app.tasks.get_round(tc.app.store.view, 1, 1)
    assert list(record.accepted_workers) == [_addr("carol")] and list(record.rejected_workers) == []
    for name in ("bob", "dave"):
        assert tc.participant(name).rejected_updates == 0 and tc.participant(name).slashed in ("", "0")
        assert tc.app.committee.get_reputation(tc.app.store.view, decode_address(_addr(name))) is None
    # Only carol's accepted update is kept for round 2's check.
    kept = tc.app.committee.iterate_kept_updates(tc.app.store.view, 1)
    assert [w for w, _ in kept] == [decode_address(_addr("carol"))]


def test_the_kept_updates_are_removed_when_the_task_finishes(tc: TaskChain) -> None:
    _run_ok(tc, tc.post(schedule=SCHEDULE))
    task = tc.task()
    _run_ok(tc, *[tc.join(w) for w in WORKERS])
    for round_, seeds in ((1, (1, 2, 5)), (2, (3, 4, 6))):
        _play(tc, task, round_, {w: update_vector(s) for w, s in zip(WORKERS, seeds, strict=True)})
        _attest_all(tc, round_, {"bob": 8000, "carol": 8100, "dave": 8000})
        if round_ == 1:
            assert len(tc.app.committee.iterate_kept_updates(tc.app.store.view, 1)) == 3
    tc.advance_past_round(2)
    assert tc.app.committee.iterate_kept_updates(tc.app.store.view, 1) == []
