"""The committee member agent: its decisions, the attestation it builds, and its loop against a fake node."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest

from app.agents.committee.agent import CommitteeConfig, CommitteeMember, MemberError
from app.agents.committee.plan import Action, Observation, decide_action, is_committee_task, is_revealing
from app.agents.committee.score import RoundInputs, RoundScore, ScoringError, compute_attested
from app.agents.committee.state import load_attestation
from app.agents.evaluation import task_eval_data
from app.agents.pace import NEXT_BLOCK_POLLS
from app.agents.progress import LogReporter
from app.client.committeetx import msg_attest, msg_commit_attestation, msg_opt_in
from app.client.tasktx import msg_commit, msg_join, msg_reveal
from app.core import bls
from app.core.crypto import PrivateKey, decode_address
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT
from app.ml.attacks import AttackError, parse_committee_attack
from app.ml.evaldata import load_eval_data
from app.modules.committee.beacon import compute_possession_message
from app.modules.committee.logic import compute_attestation_commitment, compute_eval_sample
from app.modules.tasks.logic import COMMIT, SCORE, compute_phase
from synod.committee.v1 import committee_pb2
from synod.tasks.v1 import tasks_pb2
from tests.integration.harness import CHAIN_ID, test_key
from tests.integration.staking_harness import StakingChain
from tests.integration.tasks_harness import TASK_GAS, post_msg
from tests.unit.committee_fakes import (
    ARCH,
    ME,
    N_FEATURES,
    OTHER,
    SEED,
    SIZE,
    WORKERS,
    ChainNode,
    FakeNode,
    FakeScorer,
    NoScoring,
    key_of,
)

# --- decisions and messages --------------------------------------------------------------------


COMMITTEE = committee_pb2.Committee(task_id=1, round=1, seats=[committee_pb2.Seat(operator=ME.address)])


@pytest.mark.parametrize(
    ("obs", "action"),
    [
        (Observation("commit", 1), Action.IDLE),
        (Observation("reveal", 1), Action.IDLE),
        (Observation("score", 1), Action.NO_COMMITTEE),
        (Observation("score", 1, COMMITTEE, seated=False), Action.NOT_SEATED),
        (Observation("score", 1, COMMITTEE, seated=True), Action.COMMIT),
        (Observation("score", 1, COMMITTEE, seated=True, revealing=True), Action.TOO_LATE),
        (Observation("score", 1, COMMITTEE, seated=True, committed=True), Action.WAIT),
        (Observation("score", 1, COMMITTEE, seated=True, committed=True, revealing=True), Action.REVEAL),
        (Observation("score", 1, COMMITTEE, seated=True, committed=True, attested=True), Action.ATTESTED),
    ],
)
def test_decide_action(obs: Observation, action: Action) -> None:
    assert decide_action(obs) is action


def test_the_reveal_window_opens_at_its_start_or_once_every_seat_committed() -> None:
    two = committee_pb2.Committee(seats=[committee_pb2.Seat(operator=a) for a in ("a", "b")])
    one = [committee_pb2.AttestationCommitment(attester="a")]
    both = [*one, committee_pb2.AttestationCommitment(attester="b")]
    assert not is_revealing(15, 16, one, two)
    assert is_revealing(16, 16, one, two) and is_revealing(12, 16, both, two)


def test_only_joining_and_running_tasks_with_a_score_phase_are_committee_tasks() -> None:
    task = tasks_pb2.Task(status=tasks_pb2.TASK_STATUS_JOINING, schedule=tasks_pb2.Schedule(score_blocks=2))
    assert is_committee_task(task)
    task.status = tasks_pb2.TASK_STATUS_RUNNING
    assert is_committee_task(task)
    task.schedule.score_blocks = 0
    assert not is_committee_task(task)
    task.schedule.score_blocks, task.status = 2, tasks_pb2.TASK_STATUS_FINISHED
    assert not is_committee_task(task)


def test_attestation_lists_every_committee_worker_in_the_committee_order() -> None:
    scores = {w: 7_000 + i for i, w in enumerate(reversed(WORKERS))}
    msg = msg_attest(ME.address, 1, 2, 6_500, WORKERS, scores, {WORKERS[1]: True}, b"\x09" * 32)
    assert [s.worker for s in msg.scores] == WORKERS
    assert [s.score_bps for s in msg.scores] == [scores[w] for w in WORKERS]
    assert [s.spot_check_failed for s in msg.scores] == [False, True, False]
    assert (msg.attester, msg.task_id, msg.round, msg.baseline_bps) == (ME.address, 1, 2, 6_500)
    commit = msg_commit_attestation(msg)
    assert (commit.attester, commit.task_id, commit.round) == (ME.address, 1, 2)
    assert commit.commitment == compute_attestation_commitment(
        decode_address(ME.address), 1, 2, b"\x09" * 32, 6_500, msg.scores
    )
    with pytest.raises(KeyError):
        msg_attest(ME.address, 1, 2, 6_500, WORKERS, {WORKERS[0]: 1}, None, b"\x09" * 32)


def test_what_is_attested_honestly_lazily_and_in_collusion() -> None:
    true = RoundScore(8_000, {w: 8_100 for w in WORKERS}, {WORKERS[2]: True})
    assert compute_attested(true, WORKERS, None) is true
    with pytest.raises(ValueError, match="only what it evaluated"):
        compute_attested(None, WORKERS, None)
    lazy = compute_attested(None, WORKERS, parse_committee_attack("lazy:score=6000"))
    assert lazy == RoundScore(6_000, dict.fromkeys(WORKERS, 6_000), {})
    collude = compute_attested(true, WORKERS, parse_committee_attack("collude"), frozenset({WORKERS[0]}))
    assert collude.baseline_bps == 8_000 and collude.scores == {
        WORKERS[0]: 10_000,
        WORKERS[1]: 0,
        WORKERS[2]: 0,
    }
    assert collude.spot_check_failed == {WORKERS[2]: True}  # its own findings stand


# --- the loop, against a fake node -------------------------------------------------------------


def _member(
    node: FakeNode, scorer: object, log: io.StringIO | None = None, key: PrivateKey = ME, **config: object
) -> CommitteeMember:
    reporter = LogReporter(log if log is not None else io.StringIO())
    return CommitteeMember(
        node,  # type: ignore[arg-type]
        key,
        CommitteeConfig(once=True, **config),  # type: ignore[arg-type]
        reporter,
        sleep=lambda _s: None,
        scorer=scorer,  # type: ignore[arg-type]
    )


def test_a_seated_member_scores_verified_downloads_and_attests_once(tmp_path) -> None:
    node, scorer = FakeNode(), FakeScorer()
    summary = _member(node, scorer).run()
    (inputs,) = scorer.inputs
    assert inputs.weights == node.weights and dict(inputs.updates) == node.updates and not inputs.traces
    (att,) = node.attestations
    assert (att.attester, att.task_id, att.round, att.baseline_bps) == (ME.address, 1, 1, 6_900)
    assert [(s.worker, s.score_bps, s.spot_check_failed) for s in att.scores] == [
        (w, 7_000 + 100 * i, False) for i, w in enumerate(WORKERS)
    ]
    ours = [c for c in node.commitments if c.attester == ME.address]
    assert [c.height for c in ours] == [7] and att.height == 8 and len(att.salt) == 32
    (record,) = summary.records
    assert (record.height, record.evaluated, record.honest, record.judged) == (
        8,
        True,
        True,
        "not judged yet",
    )
    assert "attested 1 rounds" in summary.describe() and "reputation 56.25%" in summary.describe()
    assert summary.faults == 1 and summary.on_duty


def test_a_running_member_waits_for_the_block_after_the_one_it_looked_at() -> None:
    waits: list[tuple[int, float]] = []

    class InterruptedAtSecondWait:
        def wait_for_block(self, after_height: int, timeout: float) -> int | None:
            waits.append((after_height, timeout))
            if len(waits) == 2:
                raise KeyboardInterrupt  # Ctrl-C while waiting
            return after_height + 1

    node, slept = FakeNode(), []
    member = CommitteeMember(
        node,  # type: ignore[arg-type]
        ME,
        CommitteeConfig(poll_interval=0.5),
        LogReporter(io.StringIO()),
        sleep=slept.append,
        scorer=FakeScorer(),  # type: ignore[arg-type]
        follower=InterruptedAtSecondWait(),
    )
    summary = member.run()
    assert len(summary.records) == 1 and len(node.attestations) == 1
    # Each wait is for the block after the one it looked at: 6, then 8 (where its reveal landed, after
    # its commitment in 7).
    assert waits == [(6, 0.5 * NEXT_BLOCK_POLLS), (8, 0.5 * NEXT_BLOCK_POLLS)] and slept == []


def test_a_restarted_member_sees_its_attestation_on_chain_and_does_not_resend() -> None:
    node = FakeNode()
    member = _member(node, FakeScorer())
    member.poll_once()
    member.poll_once()  # the round is settled: no third query of the committee (commit, reveal), no tx
    assert len(node.attestations) == 1 and node.asked.count("/synod.committee.v1.Query/Committee") == 2
    log = io.StringIO()
    scorer = FakeScorer()
    _member(node, scorer, log).run()
    assert len(node.attestations) == 1 and not scorer.inputs
    assert "our attestation is on chain already" in log.getvalue()


def test_a_member_restarted_between_commit_and_reveal_reveals_from_its_state_dir(tmp_path) -> None:
    node = FakeNode()
    node.commitments.clear()  # OTHER has not committed: the reveal waits for the reveal window (9)
    _member(node, FakeScorer(), state_dir=tmp_path).run()
    assert [c.attester for c in node.commitments] == [ME.address] and not node.attestations
    assert list(tmp_path.glob("task-000001-round-000001.json"))
    node.height = 8  # the next block is the reveal window's
    log = io.StringIO()
    summary = _member(node, NoScoring(), log, state_dir=tmp_path).run()  # a fresh process: no memory
    (att,) = node.attestations
    assert att.attester == ME.address and [r.height for r in summary.records] == [9]
    assert summary.records[0].evaluated and summary.records[0].honest


def test_a_member_that_lost_its_reveal_says_so_and_counts_the_round_missed(tmp_path) -> None:
    node = FakeNode()
    node.commitments.clear()
    _member(node, FakeScorer()).run()  # no state dir: the reveal lived in that process only
    node.height = 8
    log = io.StringIO()
    summary = _member(node, NoScoring(), log).run()
    assert not node.attestations and "cannot be revealed" in log.getvalue()
    assert "missed: its saved reveal was lost" in summary.records[0].describe()


def test_a_damaged_state_file_stops_the_member_with_what_to_do(tmp_path) -> None:
    node = FakeNode()
    node.commitments.clear()
    _member(node, FakeScorer(), state_dir=tmp_path).run()
    (path,) = tmp_path.glob("*.json")
    path.write_text(path.read_text().replace('"honest": true', '"honest": false').replace("version", "v"))
    node.height = 8
    with pytest.raises(MemberError, match="damaged.*move it away"):
        _member(node, NoScoring(), state_dir=tmp_path).run()


def test_a_copier_commits_another_commitment_then_sends_its_reveal_and_is_refused() -> None:
    node, log = FakeNode(), io.StringIO()
    copier = _member(node, NoScoring(), log, attack=parse_committee_attack("copy"))
    copier.poll_once()  # it reads OTHER's commitment, the only one on chain, and commits the same bytes
    ours = [c for c in node.commitments if c.attester == ME.address]
    assert [c.commitment for c in ours] == [b"\x0c" * 32] and not node.attestations
    assert "copied from" in log.getvalue()
    copier.poll_once()  # OTHER has not revealed: nothing to copy yet
    theirs = committee_pb2.Attestation(
        task_id=1, round=1, attester=OTHER.address, baseline_bps=6_000, salt=b"\x0d" * 32
    )
    theirs.scores.extend(committee_pb2.UpdateScore(worker=w, score_bps=7_000) for w in WORKERS)
    node.attestations.append(theirs)
    node.reject = ("committee", 16, "these scores and salt do not hash to the commitment")
    copier.poll_once()
    assert len(node.attestations) == 1
    (record,) = copier.records
    assert not record.attested and "refused" in record.describe()
    with pytest.raises(AttackError, match="another member's"):
        compute_attested(None, WORKERS, parse_committee_attack("copy"))


def test_a_member_without_a_seat_neither_scores_nor_sends() -> None:
    node, scorer, log = FakeNode(), FakeScorer(), io.StringIO()
    summary = _member(node, scorer, log, key=key_of("validator9")).run()
    assert not node.attestations and not scorer.inputs and summary.not_seated == 1
    assert "is not on committee duty" in log.getvalue() and "synod tx committee opt-in" in log.getvalue()
    assert not summary.on_duty and "not on committee duty" in summary.describe()
    assert "/synod.tasks.v1.Query/Model" not in node.asked


def test_outside_the_score_phase_nothing_happens() -> None:
    node, scorer = FakeNode(), FakeScorer()
    node.height = 4  # the next block is in the reveal phase
    _member(node, scorer).run()
    assert not node.attestations and "/synod.committee.v1.Query/Committee" not in node.asked


def test_a_lazy_member_attests_without_downloading_or_evaluating() -> None:
    node = FakeNode()
    summary = _member(node, NoScoring(), attack=parse_committee_attack("lazy:score=6000")).run()
    (att,) = node.attestations
    assert att.baseline_bps == 6_000 and {s.score_bps for s in att.scores} == {6_000}
    assert not {"/synod.tasks.v1.Query/Model", "/synod.tasks.v1.Query/Update"} & set(node.asked)
    record = summary.records[0]
    assert not record.evaluated and not record.honest and "without evaluating" in record.describe()


def test_colluders_favour_their_workers_after_evaluating() -> None:
    node, scorer = FakeNode(), FakeScorer()
    attack = parse_committee_attack("collude:low=100")
    _member(node, scorer, attack=attack, colluding_workers=frozenset({WORKERS[1]})).run()
    assert scorer.inputs and [s.score_bps for s in node.attestations[0].scores] == [100, 10_000, 100]
    assert node.attestations[0].baseline_bps == 6_900


def test_trace_tasks_are_spot_checked_and_failures_flagged() -> None:
    node, scorer = FakeNode(trace=True), FakeScorer(spot_fail=(WORKERS[2],))
    _member(node, scorer).run()
    traces = scorer.inputs[0].traces
    assert {w: t.trace for w, t in traces.items()} == node.traces
    assert traces[WORKERS[1]].data_spec == "wine:shard=1/3" and traces[WORKERS[1]].num_samples == 41
    assert [s.spot_check_failed for s in node.attestations[0].scores] == [False, False, True]


def test_a_corrupt_update_is_not_scored_and_asked_again() -> None:
    node, scorer = FakeNode(), FakeScorer()
    node.corrupt = {WORKERS[1]}
    log = io.StringIO()
    member = _member(node, scorer, log)
    member.poll_once()
    assert not node.attestations and not scorer.inputs
    assert "the node served corrupt data" in log.getvalue()
    node.corrupt = set()
    member.poll_once()
    assert len(node.attestations) == 1


def test_updates_gone_before_scoring_and_rounds_without_a_committee_are_not_errors() -> None:
    node, scorer, log = FakeNode(), FakeScorer(), io.StringIO()
    node.cleared = True
    member = _member(node, scorer, log)
    member.poll_once()
    assert not node.attestations and "looking at the chain again" in log.getvalue()
    node.cleared = False
    seats = list(node.committee.seats)
    del node.committee.seats[:]  # the node answers "no committee" for an unsampled round
    member.poll_once()
    member.poll_once()
    assert not node.attestations and log.getvalue().count("no committee sampled (yet") == 1
    node.committee.seats.extend(seats)  # the node had not applied the sampling block yet
    member.poll_once()
    assert len(node.attestations) == 1


def test_a_too_late_attestation_counts_as_missed() -> None:
    node = FakeNode()
    node.reject = ("committee", 8, "round 1 of task 1 is not in its score phase")
    summary = _member(node, FakeScorer()).run()
    assert not node.attestations and [r.attested for r in summary.records] == [False]
    assert "missed 1" in summary.describe()


def test_an_unexpected_rejection_stops_the_member_with_the_chain_s_reason() -> None:
    node = FakeNode()
    node.reject = ("committee", 10, "scores must name the committee's 3 workers in its order")
    with pytest.raises(MemberError, match="code 10, committee.*committee's 3 workers"):
        _member(node, FakeScorer()).run()


def test_the_summary_reports_the_chain_s_judgement() -> None:
    node = FakeNode()
    member = _member(node, FakeScorer())
    member.poll_once()
    node.scores = committee_pb2.RoundScores(
        task_id=1,
        round=1,
        members=[
            committee_pb2.MemberVerdict(
                operator=ME.address, attested=True, faulty=True, max_deviation_bps=900
            )
        ],
    )
    summary = member.summary()
    assert summary.records[0].judged == "faulty, deviation 9.00%"
    assert summary.to_dict()["records"][0]["judged"] == "faulty, deviation 9.00%"


# --- real scoring -------------------------------------------------------------------------------


def test_local_scorer_scores_as_app_ml_scoring_does_and_checks_the_eval_hash() -> None:
    from app.agents.committee.score import LocalScorer
    from app.ml.scoring import score_model, score_updates

    data = load_eval_data("wine:test:split=0")
    node = FakeNode()
    node.task.data.CopyFrom(
        tasks_pb2.DataRef(dataset="wine", eval_data=data.reference, eval_hash=data.digest)
    )
    inputs = RoundInputs(node.task, node.committee, node.weights, node.updates)
    result = LocalScorer().score(inputs)
    weights = WEIGHT_FORMAT.decode(node.weights, SIZE)
    updates = [UPDATE_FORMAT.decode(node.updates[w], SIZE) for w in WORKERS]
    assert result.baseline_bps == score_model(ARCH, weights, data.x, data.y)
    assert list(result.scores.values()) == score_updates(ARCH, weights, updates, data.x, data.y)
    assert list(result.scores) == WORKERS and result.spot_check_failed == {}
    node.task.data.eval_hash = b"\x00" * 32
    with pytest.raises(ScoringError, match="task 1: .*differs from the task owner's"):
        LocalScorer().score(RoundInputs(node.task, node.committee, node.weights, node.updates))


# --- against the App ----------------------------------------------------------------------------


def _committee_round_on_the_app(sample_rows: int = 0):  # noqa: ANN202
    """A StakingChain with validators 0-2 on committee duty and task 1 (wine, 2 workers) in round 1's
    score phase, and a node over it; members score sample_rows seed-chosen rows each (0: all)."""

    chain, validators = StakingChain(), [f"validator{i}" for i in range(3)]
    chain.init(
        dict.fromkeys([*validators, "alice", "bob", "carol"], 10**13), dict.fromkeys(validators, 10**10)
    )
    chain.block()
    for v in validators:
        secret, operator = bls.generate_key(hashlib.sha256(v.encode()).digest()), test_key(v).address
        possession = bls.sign(secret, compute_possession_message(CHAIN_ID, operator))
        assert chain.run_tx(v, msg_opt_in(operator, bls.public_key(secret), possession)).code == 0
    # The beacon's seed arrives through vote extensions, which this harness does not drive: stage one
    # in the block the next FinalizeBlock executes (SynodApp keeps a block staged before it).
    block = chain.app.store.branch()
    chain.app.committee.set_seed(block, SEED)
    params = chain.app.committee.get_params(block)
    params.eval_sample_rows = sample_rows
    chain.app.committee.set_params(block, params)
    chain.app._block = block
    data = load_eval_data("wine:test:split=0")
    # Every tx is a block of its own on ChainNode: 8 score blocks, a commit window of 4, reveals in 4.
    schedule = tasks_pb2.Schedule(rounds=1, join_blocks=2, commit_blocks=2, reveal_blocks=2, score_blocks=8)
    post = post_msg(
        "alice", schedule=schedule, initial_weights=WEIGHT_FORMAT.encode(np.zeros(SIZE, np.int64))
    )
    post.model.n_features = N_FEATURES
    post.data.CopyFrom(tasks_pb2.DataRef(dataset="wine", eval_data=data.reference, eval_hash=data.digest))
    chain.block([chain.tx("alice", post, gas_limit=TASK_GAS)])
    chain.block([chain.tx(w, msg_join(test_key(w).address, 1)) for w in ("bob", "carol")])
    updates = {
        w: UPDATE_FORMAT.encode(np.full(SIZE, 300 * (i + 1), np.int64))
        for i, w in enumerate(("bob", "carol"))
    }
    while compute_phase(chain.app.tasks.require_task(chain.app.store.view, 1)).name != COMMIT:
        chain.block()
    chain.block(  # every worker committed: the commit phase closes in this block's end-block
        [chain.tx(w, msg_commit(test_key(w).address, 1, 1, b"s" * 32, 50, u)) for w, u in updates.items()]
    )
    revealed = chain.block(
        [
            chain.tx(w, msg_reveal(test_key(w).address, 1, 1, b"s" * 32, 50, u), gas_limit=TASK_GAS)
            for w, u in updates.items()
        ]
    )
    assert [r.code for r in revealed.tx_results] == [0, 0], [r.log for r in revealed.tx_results]
    # Every commitment revealed: this block's end-block closed the reveal phase and sampled the committee.
    assert compute_phase(chain.app.tasks.require_task(chain.app.store.view, 1)).name == SCORE
    return chain, ChainNode(chain)


def _judged(chain) -> dict[str, bool]:  # noqa: ANN001
    """Run blocks until task 1's round 1 is judged; each seat's faulty flag."""
    while not chain.app.tasks.require_task(chain.app.store.view, 1).rounds_done:
        chain.block()
    scores = chain.app.committee.get_scores(chain.app.store.view, 1, 1)
    return {m.operator: m.faulty for m in scores.members}


def test_members_score_their_own_seed_chosen_rows_on_the_app(tmp_path) -> None:
    chain, node = _committee_round_on_the_app(sample_rows=8)
    view = lambda: chain.app.store.view  # noqa: E731
    for i in (0, 1):  # each commits (the third seat has not: no reveal yet) and saves its reveal
        _member(node, None, key=test_key(f"validator{i}"), state_dir=tmp_path / f"v{i}").run()  # type: ignore[arg-type]
    committee = chain.app.committee.get_committee(view(), 1, 1)
    rows = int(task_eval_data(chain.app.tasks.require_task(view(), 1)).y.shape[0])
    samples = []
    for i in (0, 1):
        operator = test_key(f"validator{i}").address
        samples.append(
            compute_eval_sample(bytes(committee.seed.seed), 1, 1, decode_address(operator), rows, 8)
        )
        saved = load_attestation(tmp_path / f"v{i}", 1, 1, operator)
        assert saved is not None
        att = saved.reveal
        # Accuracies on 8 rows are multiples of 1250 bps; a direction and norm come with every score.
        assert all(v % 1_250 == 0 for v in (att.baseline_bps, *(s.score_bps for s in att.scores)))
        assert len(att.scores) == 2 and all(s.norm_bps > 0 for s in att.scores)
    assert samples[0] != samples[1] and all(len(sample) == 8 for sample in samples)


def test_members_attest_on_the_app_and_the_chain_judges_the_lazy_one_faulty() -> None:
    chain, node = _committee_round_on_the_app()
    view = lambda: chain.app.store.view  # noqa: E731
    assert len(chain.app.committee.get_committee(view(), 1, 1).seats) == 3
    honest = [_member(node, None, key=test_key(f"validator{i}")) for i in (0, 1)]  # type: ignore[arg-type]
    for member in honest:  # scorer None: the real LocalScorer, JAX on the task's evaluation data
        member.run()  # commits; the reveal window is not open yet
    assert chain.app.committee.count_attestation_commitments(view(), 1, 1) == 2
    assert not list(chain.app.committee.iterate_attestations(view(), 1, 1))
    lazy_attack = parse_committee_attack("lazy:score=100")
    lazy = _member(node, NoScoring(), key=test_key("validator2"), attack=lazy_attack)
    lazy.run()  # the last seat commits, so the reveal window opens and it reveals at once
    for member in honest:
        member.run()
    # Every seat revealed: the round was judged in that block (and its attestations cleared).
    (first,), (second,) = (m.records for m in honest)
    assert first.attested and second.attested
    assert first.baseline_bps == second.baseline_bps and first.scores == second.scores  # deterministic
    sequence = chain.app.auth.get_account(view(), decode_address(test_key("validator0").address)).sequence
    _member(node, NoScoring(), key=test_key("validator0")).run()  # restarted: nothing to do
    assert (
        chain.app.auth.get_account(view(), decode_address(test_key("validator0").address)).sequence
        == sequence
    )
    scores = chain.app.committee.get_scores(view(), 1, 1)
    assert [u.median_bps for u in scores.updates] == [first.scores[u.worker] for u in scores.updates]
    assert _judged(chain) == {
        test_key("validator0").address: False,
        test_key("validator1").address: False,
        test_key("validator2").address: True,
    }
    assert "[within tolerance" in honest[0].summary().describe()
    assert "[faulty, deviation" in lazy.summary().describe()


def test_a_copier_on_the_app_is_refused_and_judged_faulty_and_a_restarted_member_reveals(tmp_path) -> None:
    chain, node = _committee_round_on_the_app()
    view = lambda: chain.app.store.view  # noqa: E731
    v0, v1, v2 = (test_key(f"validator{i}") for i in range(3))
    _member(node, FakeScorer(), key=v0, state_dir=tmp_path / "v0").run()  # commits, then stops
    copier = _member(node, NoScoring(), key=v2, attack=parse_committee_attack("copy"))
    copier.run()  # commits v0's commitment
    committed = {c.attester: c.commitment for c in node_commitments(chain)}
    assert committed[v2.address] == committed[v0.address]
    _member(node, FakeScorer(), key=v1).run()  # the last seat: it commits and reveals at once
    copier.run()  # v0 has not revealed yet: nothing to copy
    restarted = _member(node, NoScoring(), key=v0, state_dir=tmp_path / "v0")
    restarted.run()  # a fresh process reveals from its state dir, without scoring again
    assert [r.attested for r in restarted.records] == [True]
    copier.run()  # v0's scores and salt as its own: they open no commitment of v2's
    (record,) = copier.records
    assert not record.attested and "code 16" in record.describe()
    assert {a.attester for _, a in chain.app.committee.iterate_attestations(view(), 1, 1)} == {
        v0.address,
        v1.address,
    }
    assert _judged(chain) == {v0.address: False, v1.address: False, v2.address: True}


def node_commitments(chain) -> list:  # noqa: ANN001
    """Task 1 round 1's attestation commitments on the App."""
    from app.modules.committee import keys
    from synod.committee.v1 import committee_pb2 as pb

    prefix = keys.STORE_PREFIX + keys.attestation_commitment_key(1, 1)
    return [pb.AttestationCommitment.FromString(v) for _, v in chain.app.store.view.iterate(prefix)]
