"""The committee module through the ABCI handlers: beacon, sampling, attestation, verdicts, slashing.

Three genesis validators are committee members; every block carries their beacon shares (proposed
and checked through PrepareProposal / ProcessProposal). A two-round committee task with three
workers: bob and carol are honest, dave sends a harmful update in round 1 and replays bob's round-1
update in round 2. Members v1 and v2 score honestly; v3 is lazy in round 1 (one score for all) and
silent in round 2, which makes two faults and a slash. Invariants (supply, escrow, bonded pool)
run after every block.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from app.core.crypto import decode_address
from app.modules.committee.logic import (
    compute_attestation_commitment,
    compute_reputation,
    compute_reveal_start,
)
from app.modules.tasks import logic
from app.modules.tasks.errors import ErrInvalidTask
from app.state.backend import LevelDBBackend
from synod.committee.v1 import committee_pb2, tx_pb2
from synod.tasks.v1 import tasks_pb2
from tests.integration.harness import DENOM, Chain, member_json, test_bls_key, test_key
from tests.integration.staking_harness import POWER_REDUCTION, STAKING_PARAMS, cons_address, cons_key
from tests.integration.tasks_harness import TaskChain, update_vector

MEMBERS = ("v1", "v2", "v3")
FUNDS = {"alice": 10**9, "bob": 10**9, "carol": 10**9, "dave": 10**9, **dict.fromkeys(MEMBERS, 10**13)}
BOND = 5 * POWER_REDUCTION
WORKERS = ("bob", "carol", "dave")
SCHEDULE = tasks_pb2.Schedule(rounds=2, join_blocks=2, commit_blocks=2, reveal_blocks=2, score_blocks=2)
# Pinned: a change means the beacon, committee or tasks state machine or their encodings changed.
GOLDEN_COMMITTEE_APP_HASH = "adcb6e0e0f617af2b076a5c53d807381504662985a8e5c4a54730779a8d28063"


def _genesis() -> dict:
    """Staking validators v1-v3 (equal bonds) on committee duty with their BLS keys."""
    return {
        "staking": {
            "params": {**STAKING_PARAMS, "min_self_bond": "1"},
            "validators": [
                {
                    "operator_address": test_key(n).address,
                    "consensus_pubkey": base64.b64encode(cons_key(n)).decode(),
                    "moniker": n,
                    "self_bond": str(BOND),
                }
                for n in MEMBERS
            ],
        },
        "committee": {
            # Members score every evaluation row (the defaults otherwise): the attestations below are
            # written as full-row scores, which honest members agree on within attest_tolerance_bps.
            "params": {"eval_sample_rows": 0},
            "members": [member_json(test_key(n).address, cons_address(n), test_bls_key(n)) for n in MEMBERS],
        },
    }


@pytest.fixture
def tc() -> TaskChain:
    chain = Chain(beacon_keys={cons_address(n): test_bls_key(n) for n in MEMBERS})
    tc = TaskChain(chain)
    chain.init(FUNDS, _genesis())
    return tc


def _addr(name: str) -> str:
    return test_key(name).address


def salt_of(member: str, round_: int) -> bytes:
    """A fixed salt per (member, round)."""
    return hashlib.sha256(f"salt:{member}:{round_}".encode()).digest()


def msg_attest(
    attester: str,
    task_id: int,
    round_: int,
    baseline: int,
    scores: list,
    salt: bytes = b"",
    directions: list | None = None,
) -> tx_pb2.MsgAttest:
    """MsgAttest (a reveal) with (worker, score) pairs and (direction, norm) pairs exactly as given
    (tests send malformed ones too)."""
    moves = directions or [(0, 0)] * len(scores)
    return tx_pb2.MsgAttest(
        attester=attester,
        task_id=task_id,
        round=round_,
        baseline_bps=baseline,
        scores=[
            committee_pb2.UpdateScore(worker=w, score_bps=s, direction_bps=d, norm_bps=n)
            for (w, s), (d, n) in zip(scores, moves, strict=True)
        ],
        salt=salt or hashlib.sha256(attester.encode()).digest(),
    )


def msg_commit(msg: tx_pb2.MsgAttest, attester: str | None = None) -> tx_pb2.MsgCommitAttestation:
    """The commitment that msg opens, sent by attester (default: msg's own)."""
    commitment = compute_attestation_commitment(
        decode_address(msg.attester), msg.task_id, msg.round, msg.salt, msg.baseline_bps, msg.scores
    )
    return tx_pb2.MsgCommitAttestation(
        attester=attester or msg.attester, task_id=msg.task_id, round=msg.round, commitment=commitment
    )


def _ok(resp, i: int = -1) -> None:  # noqa: ANN001
    """The block's tx i (default: the last; the beacon tx is first) succeeded."""
    r = resp.tx_results[i]
    assert r.code == 0, r.log


def _code(resp) -> tuple[str, int]:  # noqa: ANN001
    """(codespace, code) of the block's last tx."""
    return resp.tx_results[-1].codespace, resp.tx_results[-1].code


def _attestation(
    tc: TaskChain,
    member: str,
    round_: int,
    baseline: int,
    scores: dict[str, int],
    directions: dict[str, tuple[int, int]] | None = None,
) -> tx_pb2.MsgAttest:
    """member's reveal of round_ (scores and directions by worker name), in the committee's worker order
    (task 1)."""
    committee = tc.app.committee.get_committee(tc.app.store.view, 1, round_)
    by_address = {_addr(name): score for name, score in scores.items()}
    moves = {_addr(name): move for name, move in (directions or {}).items()}
    ordered = [(w, by_address[w]) for w in committee.workers]
    pairs = [moves.get(w, (0, 0)) for w in committee.workers]
    return msg_attest(_addr(member), 1, round_, baseline, ordered, salt_of(member, round_), pairs)


def _commit_and_reveal(tc: TaskChain, attestations: dict[str, tx_pb2.MsgAttest]):  # noqa: ANN202
    """One block of the members' commitments, then one block of their reveals (returned)."""
    _run_ok(tc, *[tc.chain.tx(m, [msg_commit(a)]) for m, a in attestations.items()])
    resp = tc.run(*[tc.chain.tx(m, [a]) for m, a in attestations.items()])
    for r in resp.tx_results[len(resp.tx_results) - len(attestations) :]:
        assert r.code == 0, r.log
    return resp


def _run_ok(tc: TaskChain, *txs: bytes) -> None:
    """One block with txs (after the beacon tx); every one of them must succeed."""
    resp = tc.run(*txs)
    for r in resp.tx_results[len(resp.tx_results) - len(txs) :]:
        assert r.code == 0, r.log


def _play(tc: TaskChain, task: tasks_pb2.Task, round_: int, updates: dict[str, object]) -> None:
    """Commit and reveal each worker's update; stop at the first score-phase block."""
    tc.advance_to_phase(logic.COMMIT, round_)
    _run_ok(tc, *[tc.commit(w, round_, u) for w, u in updates.items()])
    tc.advance_to_phase(logic.REVEAL, round_)
    _run_ok(tc, *[tc.reveal(w, round_) for w in updates])
    tc.advance_to_phase(logic.SCORE, round_)


def _scores(tc: TaskChain, round_: int) -> committee_pb2.RoundScores:
    scores = tc.app.committee.get_scores(tc.app.store.view, 1, round_)
    assert scores is not None
    return scores


def _verdicts(scores: committee_pb2.RoundScores) -> dict[str, int]:
    by_address = {u.worker: u.verdict for u in scores.updates}
    return {name: by_address[_addr(name)] for name in WORKERS if _addr(name) in by_address}


def _lifecycle(tc: TaskChain) -> dict:
    """Run the two rounds; return what the assertions need."""
    supply_before = tc.app.bank.get_supply(tc.app.store.view, DENOM)
    _run_ok(tc, tc.post(schedule=SCHEDULE))
    task = tc.task()
    _run_ok(tc, *[tc.join(w) for w in WORKERS])
    assert tc.app.committee.get_seed(tc.app.store.view) is not None  # the beacon runs every block
    honest = {"bob": update_vector(1), "carol": update_vector(2)}
    _play(tc, task, 1, {**honest, "dave": -update_vector(1)})
    committee = tc.app.committee.get_committee(tc.app.store.view, 1, 1)
    assert sorted(s.operator for s in committee.seats) == sorted(_addr(m) for m in MEMBERS)
    assert list(committee.workers) == sorted((_addr(w) for w in WORKERS), key=decode_address)
    round1 = {"bob": 8000, "carol": 8100, "dave": 2000}
    _commit_and_reveal(
        tc,
        {
            "v1": _attestation(tc, "v1", 1, 5000, round1),
            "v2": _attestation(tc, "v2", 1, 5100, {w: s + 50 for w, s in round1.items()}),
            "v3": _attestation(tc, "v3", 1, 5000, dict.fromkeys(WORKERS, 5000)),  # lazy: one guess
        },
    )
    # Every seat revealed: the score phase closed in that block (early), and round 1 was judged.
    assert tc.task().rounds_done == 1 and logic.compute_phase(tc.task()).name == logic.COMMIT
    bob_round1 = tc.pending[("bob", 1)][2]
    _play(tc, task, 2, {"bob": update_vector(3), "carol": update_vector(4), "dave": honest["bob"]})
    assert tc.pending[("dave", 2)][2] == bob_round1  # dave replays bob's round-1 bytes
    round2 = {"bob": 8200, "carol": 8300, "dave": 8200}
    _commit_and_reveal(  # v3 is silent; v1 and v2 reveal in the reveal window (the last block)
        tc, {m: _attestation(tc, m, 2, 8000, round2) for m in ("v1", "v2")}
    )
    tc.advance_past_round(2)
    return {"supply_before": supply_before}


def test_a_committee_round_scores_excludes_slashes_and_pays(tc: TaskChain) -> None:
    balances = {n: tc.chain.balance(_addr(n)) for n in FUNDS}
    out = _lifecycle(tc)
    view = tc.app.store.view
    accepted, failed, replayed = (
        committee_pb2.VERDICT_ACCEPTED,
        committee_pb2.VERDICT_FAILED_SCORE,
        committee_pb2.VERDICT_REPLAYED,
    )
    s1, s2 = _scores(tc, 1), _scores(tc, 2)
    assert _verdicts(s1) == {"bob": accepted, "carol": accepted, "dave": failed}
    assert _verdicts(s2) == {"bob": accepted, "carol": accepted, "dave": replayed}
    assert s1.baseline_bps == 5000  # lower weighted median of 5000, 5100, 5000
    assert {u.worker: u.median_bps for u in s1.updates}[_addr("dave")] == 2050  # of 2000, 2050, 5000
    # The aggregate left dave out both rounds.
    for round_ in (1, 2):
        record = tc.app.tasks.get_round(view, 1, round_)
        assert record.outcome == tasks_pb2.ROUND_OUTCOME_AGGREGATED
        assert sorted(record.accepted_workers) == sorted([_addr("bob"), _addr("carol")])
        assert list(record.rejected_workers) == [_addr("dave")]
    # dave lost rejected_update_slash_bps of his 1000 stake twice, burnt.
    fraction = tc.app.tasks.get_params(view).rejected_update_slash_bps
    dave = tc.participant("dave")
    assert dave.rejected_updates == 2 and int(dave.slashed) == 2 * 1000 * fraction // 10_000
    # Members: v3 faulty both rounds (lazy, then silent): two faults make one slash.
    members = {r: {m.operator: m for m in s.members} for r, s in ((1, s1), (2, s2))}
    assert members[1][_addr("v3")].faulty and members[1][_addr("v3")].attested
    assert members[2][_addr("v3")].faulty and not members[2][_addr("v3")].attested
    assert members[2][_addr("v3")].slashed and not members[1][_addr("v3")].slashed
    assert not any(members[r][_addr(m)].faulty for r in (1, 2) for m in ("v1", "v2"))
    v3 = tc.app.staking.require_validator(view, decode_address(_addr("v3")))
    params = tc.app.committee.get_params(view)
    burnt_member = BOND * params.member_slash_bps // 10_000
    assert int(v3.tokens) == BOND - burnt_member
    assert tc.app.committee.get_member(view, decode_address(_addr("v3"))).slashes == 1
    # Reputation: bob accepted twice, dave failed twice, from the initial value.
    start, window = params.initial_reputation_bps, params.reputation_window
    bob_rep = compute_reputation(compute_reputation(start, True, window), True, window)
    dave_rep = compute_reputation(compute_reputation(start, False, window), False, window)
    assert tc.app.committee.get_reputation(view, decode_address(_addr("bob"))).score_bps == bob_rep
    assert tc.app.committee.get_reputation(view, decode_address(_addr("dave"))).score_bps == dave_rep
    # Payouts: the committee's share to v1 and v2 (two good rounds each), the rest by reward points.
    pool = 9001 * params.committee_reward_bps // 10_000
    for member in ("v1", "v2"):
        fees = tc.chain.fees_paid.get(member, 0)
        assert tc.chain.balance(_addr(member)) == balances[member] - fees + pool // 2
    assert tc.chain.balance(_addr("v3")) == balances["v3"] - tc.chain.fees_paid["v3"]
    for worker in ("bob", "carol"):
        paid = tc.chain.balance(_addr(worker)) - balances[worker] + tc.chain.fees_paid[worker]
        assert paid > 0 and tc.participant(worker).reward_points > 0
    assert tc.chain.balance(_addr("dave")) == balances["dave"] - tc.chain.fees_paid["dave"] - int(
        dave.slashed
    )
    # Supply: only the burnt stake (dave's and v3's) and fees-as-burn left circulation.
    supply = tc.app.bank.get_supply(view, DENOM)
    assert out["supply_before"] - supply == int(dave.slashed) + burnt_member
    assert tc.task().status == tasks_pb2.TASK_STATUS_FINISHED


def test_the_committee_lifecycle_is_deterministic_and_matches_the_golden_hash(
    tc: TaskChain, tmp_path: Path
) -> None:
    _lifecycle(tc)
    backend = LevelDBBackend(str(tmp_path / "db"))
    try:
        other = TaskChain(Chain(backend, beacon_keys={cons_address(n): test_bls_key(n) for n in MEMBERS}))
        other.chain.init(FUNDS, _genesis())
        _lifecycle(other)
        assert tc.app.store.app_hash == other.app.store.app_hash
    finally:
        backend.close()
    assert tc.app.store.app_hash.hex() == GOLDEN_COMMITTEE_APP_HASH


def _codes(resp) -> list[tuple[str, int]]:  # noqa: ANN001
    """(codespace, code) of every tx of a block after the beacon tx."""
    return [(r.codespace, r.code) for r in resp.tx_results[1:]]


def _post_long_round(tc: TaskChain) -> tasks_pb2.Task:
    """Post a task whose score phase has 10 blocks (commit window 6, reveal window 4) and play round 1."""
    longer = tasks_pb2.Schedule()
    longer.CopyFrom(SCHEDULE)
    longer.join_blocks = 3  # room for one attestation before round 1
    longer.score_blocks = 10
    _run_ok(tc, tc.post(schedule=longer))
    task = tc.task()
    _run_ok(tc, *[tc.join(w) for w in WORKERS])
    return task


def test_attestations_outside_the_rules_are_rejected_with_their_codes(tc: TaskChain) -> None:
    task = _post_long_round(tc)
    probe = msg_attest(_addr("v1"), 1, 1, 5000, [])
    early = tc.run(tc.chain.tx("v1", [probe]), tc.chain.tx("v2", [msg_commit(probe, _addr("v2"))]))
    assert _codes(early) == [("committee", 6), ("committee", 6)]  # no committee yet
    _play(tc, task, 1, {"bob": update_vector(1), "carol": update_vector(2), "dave": update_vector(5)})
    start = tc.task().phase_start_height
    assert (
        compute_reveal_start(
            start, start + 9, tc.app.committee.get_params(tc.app.store.view).attest_reveal_blocks
        )
        == start + 6
    )
    committee = tc.app.committee.get_committee(tc.app.store.view, 1, 1)
    good = [(w, 7000) for w in committee.workers]
    reveal = {m: msg_attest(_addr(m), 1, 1, 5000, good, salt_of(m, 1)) for m in MEMBERS}
    short = tx_pb2.MsgCommitAttestation(attester=_addr("v1"), task_id=1, round=1, commitment=b"\x01" * 31)
    cases = [
        ("alice", msg_attest(_addr("alice"), 1, 1, 5000, good), 7),  # no seat
        ("alice", msg_commit(reveal["v1"], _addr("alice")), 7),  # no seat to commit for
        ("v1", msg_attest(_addr("v1"), 1, 1, 5000, good[:2]), 10),  # a worker missing
        ("v1", msg_attest(_addr("v1"), 1, 1, 5000, list(reversed(good))), 10),  # wrong order
        ("v1", msg_attest(_addr("v1"), 1, 1, 10_001, good), 10),  # not basis points
        ("v1", msg_attest(_addr("v1"), 1, 1, 5000, good, b"\x01" * 31), 10),  # a short salt
        ("v1", short, 10),  # a short commitment
        ("v1", msg_attest(_addr("v1"), 1, 1, 5000, good, b"", [(-10_001, 0)] * len(good)), 18),  # no cosine
    ]
    resp = tc.run(*[tc.chain.tx(sender, [msg]) for sender, msg, _ in cases])
    assert _codes(resp) == [("committee", code) for _, _, code in cases]
    # Commit window: a reveal needs a commitment (15) and waits for the reveal window (17).
    resp = tc.run(tc.chain.tx("v1", [msg_commit(reveal["v1"])]), tc.chain.tx("v2", [reveal["v2"]]))
    assert _codes(resp) == [("", 0), ("committee", 15)]
    assert _code(tc.run(tc.chain.tx("v1", [reveal["v1"]]))) == ("committee", 17)
    resp = tc.run(
        tc.chain.tx("v1", [msg_commit(reveal["v1"])]), tc.chain.tx("v2", [msg_commit(reveal["v2"])])
    )
    assert _codes(resp) == [("committee", 14), ("", 0)]  # once per round
    # Reveal window: too late to commit (17); a reveal must open its own commitment (16).
    tc.advance_to(start + 6)
    changed = msg_attest(_addr("v2"), 1, 1, 5000, [(w, 7001) for w in committee.workers], salt_of("v2", 1))
    resp = tc.run(
        tc.chain.tx("v3", [msg_commit(reveal["v3"])]),
        tc.chain.tx("v2", [msg_attest(_addr("v2"), 1, 1, 5000, good, salt_of("v3", 1))]),
        tc.chain.tx("v2", [changed]),
        tc.chain.tx("v1", [reveal["v1"]]),
        tc.chain.tx("v2", [reveal["v2"]]),
    )
    assert _codes(resp) == [("committee", 17), ("committee", 16), ("committee", 16), ("", 0), ("", 0)]
    assert _code(tc.run(tc.chain.tx("v1", [reveal["v1"]]))) == ("committee", 9)
    tc.advance_past_round(1)
    late = tc.run(tc.chain.tx("v3", [reveal["v3"]]), tc.chain.tx("v3", [msg_commit(reveal["v3"])]))
    assert _codes(late) == [("committee", 8), ("committee", 8)]
    members = {m.operator: m for m in _scores(tc, 1).members}
    assert not members[_addr("v1")].faulty and not members[_addr("v2")].faulty
    assert members[_addr("v3")].faulty and not members[_addr("v3")].attested
    view = tc.app.store.view  # the judged round's commitments and attestations are gone
    assert tc.app.committee.count_attestation_commitments(view, 1, 1) == 0


def test_a_copier_of_commitments_and_reveals_is_faulted_unpaid_and_slashed(tc: TaskChain) -> None:
    """v3 commits v1's commitment each round (it can read it), then sends v1's revealed scores and salt
    as its own: the reveal does not open v3's commitment, so v3 counts as silent, twice: slashed."""
    balances = {n: tc.chain.balance(_addr(n)) for n in FUNDS}
    supply_before = tc.app.bank.get_supply(tc.app.store.view, DENOM)
    task = _post_long_round(tc)
    scores = {"bob": 8000, "carol": 8100, "dave": 7900}
    for round_ in (1, 2):
        updates = {w: update_vector(3 * round_ + i) for i, w in enumerate(WORKERS)}
        _play(tc, task, round_, updates)
        honest = {m: _attestation(tc, m, round_, 5000, scores) for m in ("v1", "v2")}
        copied = msg_commit(honest["v1"], _addr("v3"))
        assert copied.commitment == msg_commit(honest["v1"]).commitment
        _run_ok(
            tc,
            tc.chain.tx("v1", [msg_commit(honest["v1"])]),
            tc.chain.tx("v2", [msg_commit(honest["v2"])]),
            tc.chain.tx("v3", [copied]),
        )
        # Every seat committed: the reveal window opens at once, well before its last four blocks.
        theft = tx_pb2.MsgAttest()
        theft.CopyFrom(honest["v1"])
        theft.attester = _addr("v3")
        resp = tc.run(
            tc.chain.tx("v1", [honest["v1"]]), tc.chain.tx("v2", [honest["v2"]]), tc.chain.tx("v3", [theft])
        )
        assert _codes(resp) == [("", 0), ("", 0), ("committee", 16)]
        assert logic.compute_phase(tc.task()).name == logic.SCORE  # a seat is missing: no early close
        tc.advance_past_round(round_)
        members = {m.operator: m for m in _scores(tc, round_).members}
        assert members[_addr("v3")].faulty and not members[_addr("v3")].attested
        assert members[_addr("v3")].slashed == (round_ == 2)
        assert not members[_addr("v1")].faulty and not members[_addr("v2")].faulty
    view = tc.app.store.view
    params = tc.app.committee.get_params(view)
    burnt = BOND * params.member_slash_bps // 10_000
    v3 = tc.app.staking.require_validator(view, decode_address(_addr("v3")))
    assert int(v3.tokens) == BOND - burnt
    assert tc.task().status == tasks_pb2.TASK_STATUS_FINISHED
    pool = 9001 * params.committee_reward_bps // 10_000
    for member in ("v1", "v2"):  # the honest members share the committee's pool; the copier gets none
        assert tc.chain.balance(_addr(member)) == balances[member] - tc.chain.fees_paid[member] + pool // 2
    assert tc.chain.balance(_addr("v3")) == balances["v3"] - tc.chain.fees_paid["v3"]
    assert supply_before - tc.app.bank.get_supply(view, DENOM) == burnt


def test_a_one_block_score_phase_is_refused_at_posting(tc: TaskChain) -> None:
    one = tasks_pb2.Schedule()
    one.CopyFrom(SCHEDULE)
    one.score_blocks = 1  # no room for a commit window and a reveal window
    resp = tc.run(tc.post(schedule=one))
    assert _code(resp) == ("tasks", ErrInvalidTask.code) and "score_blocks" in resp.tx_results[-1].log


def test_an_update_that_keeps_accuracy_but_points_the_wrong_way_fails_direction_and_is_slashed(
    tc: TaskChain,
) -> None:
    """IPM-style: dave's update scores like the honest ones, but every member finds it opposed to its
    reference update. The median direction fails it (FAILED_DIRECTION), dave is slashed as a score
    failure is, and a member that attests a direction far from the median is faulted."""
    _run_ok(tc, tc.post(schedule=SCHEDULE))
    task = tc.task()
    _run_ok(tc, *[tc.join(w) for w in WORKERS])
    _play(tc, task, 1, {"bob": update_vector(1), "carol": update_vector(2), "dave": -update_vector(1)})
    scores = {"bob": 8000, "carol": 8100, "dave": 8050}  # dave keeps accuracy
    honest = {"bob": (3000, 9000), "carol": (2500, 11000), "dave": (-4000, 10000)}
    # v3 colludes with dave: it calls his update aligned, which the median outvotes.
    colluding = {**honest, "dave": (9000, 10000)}
    shifted = {w: (d - 100, n) for w, (d, n) in honest.items()}
    _commit_and_reveal(
        tc,
        {
            "v1": _attestation(tc, "v1", 1, 5000, scores, honest),
            "v2": _attestation(tc, "v2", 1, 5000, scores, shifted),
            "v3": _attestation(tc, "v3", 1, 5000, scores, colluding),
        },
    )
    s1 = _scores(tc, 1)
    assert _verdicts(s1) == {
        "bob": committee_pb2.VERDICT_ACCEPTED,
        "carol": committee_pb2.VERDICT_ACCEPTED,
        "dave": committee_pb2.VERDICT_FAILED_DIRECTION,
    }
    record = tc.app.tasks.get_round(tc.app.store.view, 1, 1)
    assert list(record.rejected_workers) == [_addr("dave")]
    fraction = tc.app.tasks.get_params(tc.app.store.view).rejected_update_slash_bps
    dave = tc.participant("dave")
    assert dave.rejected_updates == 1 and int(dave.slashed) == 1000 * fraction // 10_000
    members = {m.operator: m for m in s1.members}
    assert members[_addr("v3")].faulty and members[_addr("v3")].max_deviation_bps == 13_000
    assert not members[_addr("v1")].faulty and not members[_addr("v2")].faulty


def test_an_update_far_larger_than_the_rounds_median_fails_direction(tc: TaskChain) -> None:
    """A scaled update (norm above max_norm_ratio_bps of the median) fails even when aligned."""
    _run_ok(tc, tc.post(schedule=SCHEDULE))
    task = tc.task()
    _run_ok(tc, *[tc.join(w) for w in WORKERS])
    _play(tc, task, 1, {"bob": update_vector(1), "carol": update_vector(2), "dave": update_vector(3)})
    limit = tc.app.committee.get_params(tc.app.store.view).max_norm_ratio_bps
    moves = {"bob": (3000, 10000), "carol": (3000, 9000), "dave": (6000, limit + 1)}
    scores = dict.fromkeys(WORKERS, 8000)
    _commit_and_reveal(tc, {m: _attestation(tc, m, 1, 5000, scores, moves) for m in MEMBERS})
    assert _verdicts(_scores(tc, 1)) == {
        "bob": committee_pb2.VERDICT_ACCEPTED,
        "carol": committee_pb2.VERDICT_ACCEPTED,
        "dave": committee_pb2.VERDICT_FAILED_DIRECTION,
    }
