"""The committee member: score every update of each round it holds a seat in, commit, then reveal.

Every poll (status height + /tasks/tasks) the member finds the committee-verified tasks whose next
block falls in a score phase, reads that round's committee and the commitments and attestations on
chain, and takes the step decide_action picks (app/agents/committee/plan.py). In the score phase's
commit window it downloads the round's global model and the committee workers' revealed updates (and,
on trace tasks, their traces), each checked against the hash on chain, scores them on the task's
evaluation data, spot-checks the traces, saves the salted reveal in its state directory
(app/agents/committee/state.py) and sends MsgCommitAttestation; in the reveal window (its last blocks,
or as soon as every seat has committed) it sends the saved MsgAttest. It signs with the validator's
operator key, so `attester` is the key's address. Restarted, it sends only what the chain does not
hold yet, and reveals from its saved file. Between polls it waits for the next block through its
follower (app/agents/pace.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from app.agents.committee.plan import (
    Action,
    Observation,
    decide_action,
    has_attested,
    is_committee_task,
    is_revealing,
    is_seated,
)
from app.agents.committee.score import (
    LocalScorer,
    RevealedTrace,
    RoundInputs,
    RoundScore,
    Scorer,
    ScoringError,
    compute_attested,
)
from app.agents.committee.state import (
    SavedAttestation,
    StateFileError,
    load_attestation,
    save_attestation,
)
from app.agents.committee.summary import AttestRecord, MemberSummary, compute_summary
from app.agents.pace import BlockPacer
from app.agents.progress import Reporter, StatusLine
from app.agents.retry import Retrier
from app.client.committee import CommitteeClient, RevealMismatch
from app.client.committeetx import msg_attest, msg_commit_attestation
from app.client.follow import BlockWaiter
from app.client.querier import Querier
from app.client.rpc import CometRPC, NodeUnreachable, QueryFailed, RpcError
from app.client.sender import SenderError, TxRejected, TxSender
from app.client.tasks import CheckpointMismatch, TasksClient
from app.core.crypto import PrivateKey
from app.core.errors import ErrInvalidSequence, ErrorCode
from app.ml.attacks import CommitteeAttack, Copy
from app.modules.committee.errors import (
    ErrAlreadyAttested,
    ErrAlreadyCommitted,
    ErrBadReveal,
    ErrNoCommittee,
    ErrWrongPhase,
    ErrWrongWindow,
)
from app.modules.committee.logic import SALT_LEN, compute_reveal_start
from app.modules.tasks.logic import SCORE, Phase, compute_phase
from synod.committee.v1 import committee_pb2, tx_pb2
from synod.committee.v1 import query_pb2 as committee_query
from synod.tasks.v1 import tasks_pb2

__all__ = ["CommitteeConfig", "CommitteeMember", "MemberError"]

T = TypeVar("T")
# A pending tx of ours holds the sequence: worth another look at the chain rather than giving up.
_TRANSIENT = (ErrInvalidSequence,)


class MemberError(Exception):
    """The member cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class CommitteeConfig:
    """How to behave and how often to look."""

    poll_interval: float = 0.5  # seconds between polls without a follower (app/agents/pace.py)
    tx_timeout: float = 20.0
    once: bool = False  # one pass over the chain, then exit
    attack: CommitteeAttack | None = None
    colluding_workers: frozenset[str] = field(default_factory=frozenset)
    # Where the salted reveals live (state.py); None keeps them in memory, so a restart between
    # commit and reveal loses the round (the CLI always gives one: HOME/committee/ADDRESS).
    state_dir: Path | None = None


class CommitteeMember:
    """One operator key on committee duty through one node."""

    def __init__(
        self,
        rpc: CometRPC,
        key: PrivateKey,
        config: CommitteeConfig,
        reporter: Reporter,
        sleep: Callable[[float], None] = time.sleep,
        scorer: Scorer | None = None,
        querier: Querier | None = None,
        follower: BlockWaiter | None = None,
    ) -> None:
        self.rpc = rpc
        # With a verifying querier the committee, the model and every update scored are proven.
        self.tasks = TasksClient(querier or rpc)
        self.committees = CommitteeClient(querier or rpc)
        self.sender = TxSender(rpc, key)
        self.address = key.address
        self.config = config
        self.reporter = reporter
        self._sleep = sleep
        self._pacer = BlockPacer(config.poll_interval, follower, sleep)
        self._scorer = scorer
        # (task, round) -> why nothing more is to be done for it (an Action name, or missed/unscorable).
        self._settled: dict[tuple[int, int], str] = {}
        # Rounds whose committee was not there yet: a node's status height moves when it stores a block,
        # before the app has run it, so the first look may come before the sampling end-block is applied.
        self._no_committee_noted: set[tuple[int, int]] = set()
        self._warmed: set[int] = set()
        self._idle_noted = False
        self._retrying = Retrier(reporter, sleep, rpc.url)
        self.records: list[AttestRecord] = []
        self._saved: dict[tuple[int, int], SavedAttestation] = {}
        self._reveal_blocks: int | None = None

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> MemberSummary:
        """Attest round after round until interrupted (or after one pass with once); return the summary."""
        attack = self.config.attack.name if self.config.attack else "none (honest)"
        self.reporter.info(f"{self.address} following committees via {self.rpc.url}; attack: {attack}")
        members = self._retrying("members", self.committees.members)
        if all(m.operator != self.address for m in members):
            self.reporter.warn(
                f"{self.address} is not on committee duty, so no committee will seat it: opt in with "
                f"`synod tx committee opt-in --from {self.address}` (its validator's node home as --home)"
            )
        try:
            while True:
                height = self.poll_once()
                if self.config.once:
                    break
                self._pacer.wait(height)
        except KeyboardInterrupt:
            self.reporter.info("stopping: attestations already on chain stay; run again to resume")
        return self.summary()

    def poll_once(self) -> int:
        """Look at every committee-verified task once and attest what is due; return the height seen."""
        height = self._retrying("status", lambda: int(self.rpc.status()["sync_info"]["latest_block_height"]))
        tasks = [t for t in self._retrying("task list", self.tasks.tasks) if is_committee_task(t)]
        self._report_status(tasks, height)
        for task in tasks:
            phase = compute_phase(task)  # of the block a tx sent now lands in
            self._handle(task, phase, height + 1)
            evaluates = self.config.attack is None or self.config.attack.needs_evaluation
            if phase.name != SCORE and evaluates:
                self._warm_up(task)
        return height

    def _handle(self, task: tasks_pb2.Task, phase: Phase, next_height: int) -> None:
        """Take the step decide_action picks for one (task, round)."""
        key = (task.id, phase.round)
        if phase.name != SCORE or key in self._settled:
            return
        obs, resp = self._observe(task, phase, next_height)
        action = decide_action(obs)
        if action is Action.COMMIT:
            assert resp is not None  # decide_action saw the committee
            landed = self._commit(task, resp)
            if landed is not None:  # the reveal may be due at once (every seat has committed)
                self._handle(task, phase, landed + 1)
        elif action is Action.REVEAL:
            assert resp is not None
            self._reveal(task, resp)
        elif action is Action.TOO_LATE:
            self.reporter.warn(f"task {task.id} round {phase.round}: the commit window closed first")
            self.records.append(AttestRecord.missed(task.id, phase.round, "the commit window closed first"))
            self._settled[key] = action.value
        elif action is Action.NOT_SEATED:
            self.reporter.info(f"task {task.id} round {phase.round}: not seated on its committee")
            self._settled[key] = action.value
        elif action is Action.ATTESTED:
            self.reporter.info(f"task {task.id} round {phase.round}: our attestation is on chain already")
            self._settled[key] = action.value
        elif action is Action.NO_COMMITTEE and key not in self._no_committee_noted:
            self.reporter.warn(
                f"task {task.id} round {phase.round}: no committee sampled (yet, or no member or no "
                "reveal); looking again while the score phase lasts"
            )
            self._no_committee_noted.add(key)

    def _observe(
        self, task: tasks_pb2.Task, phase: Phase, next_height: int
    ) -> tuple[Observation, committee_query.QueryCommitteeResponse | None]:
        """The round's committee, our seat, commitment and attestation, as the chain holds them."""
        round_ = phase.round
        try:
            resp = self._retrying("committee", lambda: self.committees.committee(task.id, round_))
        except QueryFailed as e:
            # Not sampled (no eligible member, or no reveal); the codespace is not in QueryFailed.
            if e.code == ErrNoCommittee.code and ErrNoCommittee.description in str(e):
                return Observation(SCORE, round_), None
            raise MemberError(f"committee query for task {task.id} round {round_}: {e}") from None
        reveal_start = compute_reveal_start(
            task.phase_start_height, phase.end_height, self._get_reveal_blocks()
        )
        obs = Observation(
            SCORE,
            round_,
            resp.committee,
            seated=is_seated(resp.committee, self.address),
            attested=has_attested(list(resp.attestations), self.address),
            committed=any(c.attester == self.address for c in resp.commitments),
            revealing=is_revealing(next_height, reveal_start, list(resp.commitments), resp.committee),
        )
        return obs, resp

    def _get_reveal_blocks(self) -> int:
        """The chain's attest_reveal_blocks (asked once per run)."""
        if self._reveal_blocks is None:
            params = self._retrying("committee params", self.committees.params)
            self._reveal_blocks = int(params.params.attest_reveal_blocks)
        return self._reveal_blocks

    # --- committing and revealing -----------------------------------------------------------

    def _commit(self, task: tasks_pb2.Task, resp: committee_query.QueryCommitteeResponse) -> int | None:
        """Commit to this round's attestation (the saved one after a restart, else a new one); the
        height that included the commitment, or None."""
        committee = resp.committee
        if isinstance(self.config.attack, Copy):
            return self._commit_copy(task, resp)
        saved = self._load(task.id, committee.round)
        if saved is None:
            saved = self._prepare(task, committee)
            if saved is None:
                return None
            self._save(saved)
        what = f"task {task.id} round {committee.round} commitment"
        height = self._send(task.id, committee.round, msg_commit_attestation(saved.reveal), what)
        if height is not None:
            self.reporter.info(f"{what} in block {height}; revealing once the reveal window opens")
        return height

    def _prepare(self, task: tasks_pb2.Task, committee: committee_pb2.Committee) -> SavedAttestation | None:
        """Score the round (unless the attack skips that) and build the salted reveal (None: not now)."""
        key, workers = (task.id, committee.round), list(committee.workers)
        attack = self.config.attack
        true: RoundScore | None = None
        if attack is None or attack.needs_evaluation:
            try:
                true = self._evaluate(task, committee)
            except (CheckpointMismatch, RevealMismatch) as e:
                self.reporter.warn(f"{e}; asking again at the next poll")
                return None
            except QueryFailed as e:  # e.g. the round was judged (its reveals cleared) meanwhile
                self.reporter.warn(f"task {task.id} round {committee.round}: {e}; looking at the chain again")
                return None
            except ScoringError as e:
                self.reporter.warn(
                    f"task {task.id} round {committee.round}: cannot score ({e}); not attesting"
                )
                self._settled[key] = "unscorable"
                return None
        attested = compute_attested(true, workers, attack, self.config.colluding_workers)
        reveal = msg_attest(
            self.address,
            task.id,
            committee.round,
            attested.baseline_bps,
            workers,
            attested.scores,
            attested.spot_check_failed,
            os.urandom(SALT_LEN),  # off-chain: the salt only has to be unguessable
            attested.directions,
        )
        return SavedAttestation(
            reveal, evaluated=true is not None, honest=true is not None and true == attested
        )

    def _reveal(self, task: tasks_pb2.Task, resp: committee_query.QueryCommitteeResponse) -> None:
        """Send the reveal of the commitment the chain holds for us."""
        round_ = resp.committee.round
        key, what = (task.id, round_), f"task {task.id} round {round_} reveal"
        if isinstance(self.config.attack, Copy):
            self._reveal_copy(task, resp)
            return
        saved = self._load(task.id, round_)
        if saved is None:
            self.reporter.warn(
                f"{what}: the salted attestation behind our commitment is not in the state directory "
                f"({self.config.state_dir or 'memory only'}), so it cannot be revealed; the chain will "
                "count this seat as silent"
            )
            self.records.append(AttestRecord.missed(task.id, round_, "its saved reveal was lost"))
            self._settled[key] = "lost"
            return
        height = self._send(task.id, round_, saved.reveal, what)
        if height is None:
            return
        record = AttestRecord.revealed(saved.reveal, height, saved.evaluated, saved.honest)
        self.records.append(record)
        self._settled[key] = Action.ATTESTED.value
        self.reporter.info(f"{what} in block {height}: {record.describe()}")

    def _load(self, task_id: int, round_: int) -> SavedAttestation | None:
        """This round's saved reveal: from memory, else from the state directory."""
        saved = self._saved.get((task_id, round_))
        if saved is None and self.config.state_dir is not None:
            try:
                saved = load_attestation(self.config.state_dir, task_id, round_, self.address)
            except StateFileError as e:
                raise MemberError(str(e)) from None
        return saved

    def _save(self, saved: SavedAttestation) -> None:
        """Keep a reveal before its commitment is sent: on disk (fsynced) when there is a state dir."""
        self._saved[(saved.reveal.task_id, saved.reveal.round)] = saved
        if self.config.state_dir is not None:
            save_attestation(self.config.state_dir, saved)

    # --- the copy attack --------------------------------------------------------------------

    def _commit_copy(self, task: tasks_pb2.Task, resp: committee_query.QueryCommitteeResponse) -> int | None:
        """Commit the first other member's commitment on chain (wait while there is none)."""
        by_attester = {c.attester: c for c in resp.commitments}
        source = Copy().pick_source(list(by_attester), self.address)
        if source is None:
            return None
        msg = tx_pb2.MsgCommitAttestation(
            attester=self.address,
            task_id=task.id,
            round=resp.committee.round,
            commitment=by_attester[source].commitment,
        )
        what = f"task {task.id} round {resp.committee.round} commitment (copied from {source})"
        height = self._send(task.id, resp.committee.round, msg, what)
        if height is not None:
            self.reporter.info(f"{what} in block {height}")
        return height

    def _reveal_copy(self, task: tasks_pb2.Task, resp: committee_query.QueryCommitteeResponse) -> None:
        """Send the revealed scores and salt of the member whose commitment we copied, as our own."""
        ours = next(c.commitment for c in resp.commitments if c.attester == self.address)
        sources = [
            c.attester for c in resp.commitments if c.commitment == ours and c.attester != self.address
        ]
        revealed = {a.attester: a for a in resp.attestations}
        source = Copy().pick_source([a for a in sources if a in revealed], self.address)
        if source is None:
            return  # not revealed yet
        theirs = revealed[source]
        msg = tx_pb2.MsgAttest(
            attester=self.address,
            task_id=theirs.task_id,
            round=theirs.round,
            baseline_bps=theirs.baseline_bps,
            scores=theirs.scores,
            salt=theirs.salt,
        )
        what = f"task {task.id} round {resp.committee.round} reveal (copied from {source})"
        height = self._send(task.id, resp.committee.round, msg, what, refused=(ErrBadReveal,))
        if height is not None:  # the chain took a copied reveal: it must not
            self.records.append(AttestRecord.revealed(msg, height, evaluated=False, honest=False))
            self._settled[(task.id, resp.committee.round)] = Action.ATTESTED.value

    def _evaluate(self, task: tasks_pb2.Task, committee: committee_pb2.Committee) -> RoundScore:
        """Download and score the round's model and updates (and spot-check traces on trace tasks)."""
        round_, workers = committee.round, list(committee.workers)
        record, weights = self._retrying(
            "model download", lambda: self.tasks.model(task.id, task.rounds_done)
        )
        if record.model_hash != task.model_hash:
            raise CheckpointMismatch(
                f"task {task.id}: checkpoint {task.rounds_done} is {record.model_hash.hex()}, the task's "
                f"current model is {task.model_hash.hex()}"
            )
        updates: dict[str, bytes] = {}
        traces: dict[str, RevealedTrace] = {}
        for worker in workers:
            reveal, updates[worker] = self._retrying(
                "update download", lambda w=worker: self.committees.revealed_update(task.id, round_, w)
            )
            if task.trace.every_steps > 0:
                _, trace = self._retrying(
                    "trace download", lambda w=worker: self.committees.trace(task.id, round_, w)
                )
                traces[worker] = RevealedTrace(reveal.data_spec, trace, int(reveal.num_samples))
        params = self.committees.params().params
        inputs = RoundInputs(task, committee, weights, updates, traces, self.address, params)
        checks = f", spot-checking {len(traces)} traces" if traces else ""
        with self.reporter.training(f"task {task.id} round {round_}: scoring {len(workers)} updates{checks}"):
            return self._get_scorer().score(inputs)

    def _warm_up(self, task: tasks_pb2.Task) -> None:
        """Before a task's first score phase: load JAX and its evaluation data, compile the scorer.

        On a loaded machine that costs seconds, which a short score phase cannot spare.
        """
        if task.id in self._warmed:
            return
        self._warmed.add(task.id)
        with self.reporter.training(f"task {task.id}: loading JAX and the evaluation data"):
            self._get_scorer().warm_up(task)

    def _get_scorer(self) -> Scorer:
        """The scorer, created on first use (it loads JAX and the evaluation data)."""
        if self._scorer is None:
            self._scorer = LocalScorer()
        return self._scorer

    def _send(
        self,
        task_id: int,
        round_: int,
        msg: tx_pb2.MsgCommitAttestation | tx_pb2.MsgAttest,
        what: str,
        refused: tuple[ErrorCode, ...] = (),
    ) -> int | None:
        """Send one message; the height that included it, or None when the chain refused it or did not
        answer (the round is then settled when the refusal says it is over, or `refused` names it)."""
        key = (task_id, round_)
        try:
            return self.sender.send([msg], timeout=self.config.tx_timeout).height
        except TxRejected as e:
            if any(e.is_(err.codespace, err.code) for err in (ErrAlreadyAttested, ErrAlreadyCommitted)):
                self.reporter.info(f"{what}: already on chain")
            elif any(e.is_(err.codespace, err.code) for err in (ErrWrongPhase, ErrWrongWindow, *refused)):
                self.reporter.warn(f"{what} was refused: {e}")
                self.records.append(AttestRecord.missed(task_id, round_, f"refused ({e})"))
                self._settled[key] = "missed"
            elif any(e.is_(err.codespace, err.code) for err in _TRANSIENT):
                self.reporter.warn(f"{what} {e}; looking at the chain again")
            else:
                raise MemberError(f"{what} {e}") from None
            return None
        except SenderError as e:
            raise MemberError(str(e)) from None
        except RpcError as e:
            self.reporter.warn(f"{what}: {e}; will look at the chain again")
            self._sleep(1.0 if isinstance(e, NodeUnreachable) else 0.0)
            return None

    # --- plumbing ---------------------------------------------------------------------------

    def _report_status(self, tasks: list[tasks_pb2.Task], height: int) -> None:
        """Show the committee task nearest to (or in) its score phase."""
        if not tasks:
            if not self._idle_noted:
                self.reporter.info("no committee-verified task is running; waiting for one")
            self._idle_noted = True
            return
        self._idle_noted = False
        phases = [(t, compute_phase(t)) for t in tasks]
        task, phase = min(phases, key=lambda tp: (tp[1].name != SCORE, tp[1].end_height, tp[0].id))
        rounds = task.schedule.rounds
        self.reporter.status(
            StatusLine(task.id, height, phase.name, phase.round, rounds, phase.end_height - height)
        )

    def summary(self) -> MemberSummary:
        """What this member attested, how each was judged, and where its record and reputation stand."""
        not_seated = sum(1 for why in self._settled.values() if why == Action.NOT_SEATED.value)
        return compute_summary(self.committees, self.address, self.records, not_seated)
