"""Committees under the threshold beacon, through the ABCI handlers: a round's committee waits for
the group seed of the first epoch that starts after its reveal phase closed, is seated from it,
and falls back to an unscored round when that seed never lands."""

from __future__ import annotations

from app.modules.committee import epochs
from app.modules.tasks import logic
from synod.committee.v1 import committee_pb2
from synod.committee.v1 import query_pb2 as q
from synod.tasks.v1 import tasks_pb2
from tests.integration.harness import Chain
from tests.integration.staking_harness import validators_on_duty
from tests.integration.tasks_harness import TaskChain, update_vector
from tests.integration.test_dkg_abci import KEYS, VALIDATORS, _complete_dkg, _signer

WORKERS = ("bob", "carol")
FUNDS = {"alice": 10**9, "bob": 10**9, "carol": 10**9, **dict.fromkeys(VALIDATORS, 10**12)}
SCHEDULE = tasks_pb2.Schedule(rounds=1, join_blocks=2, commit_blocks=2, reveal_blocks=2, score_blocks=6)


def _task_chain(withhold: bool = False) -> TaskChain:
    chain = Chain(beacon_keys=KEYS)
    tc = TaskChain(chain)
    chain.init(FUNDS, validators_on_duty(VALIDATORS))
    _, shares = _complete_dkg(chain)
    chain.share_source = _signer(chain, shares, leave_out=frozenset(shares) if withhold else frozenset())
    tc.run(tc.post(schedule=SCHEDULE))
    tc.run(*[tc.join(w) for w in WORKERS])
    tc.advance_to_phase(logic.COMMIT, 1)
    tc.run(*[tc.commit(w, 1, update_vector(i + 1)) for i, w in enumerate(WORKERS)])
    tc.advance_to_phase(logic.REVEAL, 1)
    tc.run(*[tc.reveal(w, 1) for w in WORKERS])
    tc.advance_to_phase(logic.SCORE, 1)
    return tc


def test_committee_waits_for_the_next_epoch_seed_and_is_seated_from_it() -> None:
    tc = _task_chain()
    view = tc.app.store.view
    committee = tc.app.committee.get_committee(view, 1, 1)
    closed = committee.height
    assert committee.seed_epoch == epochs.compute_seed_epoch(closed, 2) and not committee.seats
    # That epoch starts after the reveal phase closed: nobody could know its seed then.
    assert committee.seed_epoch * 2 > closed
    for _ in range(4):
        if tc.app.committee.get_committee(tc.app.store.view, 1, 1).seats:
            break
        tc.run()
    committee = tc.app.committee.get_committee(tc.app.store.view, 1, 1)
    seed = tc.chain.ask("committee", "EpochSeed", q.QueryEpochSeedRequest(epoch=committee.seed_epoch)).seed
    assert committee.seats and committee.seed == seed and seed.group_id == 1
    assert tc.app.store.height - closed <= 3  # at most epoch_blocks + 1 blocks of the score phase


def test_no_seed_in_time_falls_back_to_an_unscored_round() -> None:
    tc = _task_chain(withhold=True)
    tc.advance_past_round(1)
    scores = tc.app.committee.get_scores(tc.app.store.view, 1, 1)
    assert scores is not None
    assert {u.verdict for u in scores.updates} == {committee_pb2.VERDICT_UNSCORED}
    assert not tc.app.committee.get_committee(tc.app.store.view, 1, 1).seats
    committee = tc.app.committee.get_committee(tc.app.store.view, 1, 1)
    assert list(tc.app.committee.iterate_waiting(tc.app.store.view, committee.seed_epoch)) == []
