"""The federated-learning worker: follow a task block by block, join, train, commit, reveal; survive restarts.

Every poll (status height + /tasks/task) the worker observes the phase of the next block, its own
commitment and reveal in the current round, and the update it saved for that round, and takes
the one step decide_action picks (app/agents/worker/plan.py). Each round it trains on its private
shard from the round's global model, writes the salt, update and sample count to its state file
*before* broadcasting the commitment, and reveals them in the reveal phase. On a trace task (public
training data) the update comes with its training trace and data spec, saved and revealed alike.
With --trainer the user's own fit function trains instead of Synod's loop (app/agents/custom_training.py);
with --attack it trains and commits as an attack prescribes (app/agents/worker/attack.py). It exits
when the task is finished, cancelled or failed, with a summary of what it contributed and earned.
Between polls it waits for the next block through its follower (app/agents/pace.py).
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from google.protobuf.message import Message

from app.agents.custom_training import CustomTrainer
from app.agents.pace import BlockPacer
from app.agents.progress import Reporter, StatusLine
from app.agents.retry import Retrier
from app.agents.training import LocalTrainer, TrainedUpdate, Trainer, TrainingError
from app.agents.usercode import UserTrainer
from app.agents.worker.attack import Attacker
from app.agents.worker.plan import TERMINAL_PHASES, Action, Observation, decide_action, is_time_to_prepare
from app.agents.worker.state import SavedUpdate, StateFileError, load_update, save_update
from app.agents.worker.summary import WorkerSummary, compute_summary
from app.client.follow import BlockWaiter
from app.client.querier import Querier
from app.client.rpc import CometRPC, NodeUnreachable, QueryFailed, RpcError
from app.client.sender import SenderError, TxOutcome, TxRejected, TxSender, compute_gas_limit
from app.client.tasks import CheckpointMismatch, TasksClient
from app.client.tasktx import SALT_LEN, msg_commit, msg_join, reveal_messages
from app.client.verified import VerifiedQuerier
from app.core.crypto import PrivateKey
from app.ml.attacks import AttackError, parse_worker_attack
from synod.tasks.v1 import query_pb2, tasks_pb2, tx_pb2

__all__ = ["Worker", "WorkerConfig", "WorkerError", "WorkerSummary"]

T = TypeVar("T")
# Rejections that mean "already done": the chain holds what we meant to send.
_ALREADY = {
    ("tasks", 6): "already joined",
    ("tasks", 8): "already committed",
    ("tasks", 11): "already revealed (or that part staged)",
}
# Rejections worth another look at the chain rather than giving up: the phase moved on, or a
# transaction of ours is still pending (its sequence is taken).
_TRANSIENT = {("tasks", 4), ("tasks", 14), ("tasks", 15), ("sdk", 3)}


class WorkerError(Exception):
    """The worker cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class WorkerConfig:
    """What to work on and how often to look."""

    task_id: int
    data_spec: str  # Synod's data spec (app/ml/datasets.py); with a trainer, passed on to it (may be "")
    state_dir: Path
    poll_interval: float = 0.3  # seconds between polls without a follower (app/agents/pace.py)
    tx_timeout: float = 20.0
    attack: str = ""  # an attack spec (app/ml/attacks), e.g. "sign_flip"; empty: an honest worker
    trainer: UserTrainer | None = None  # the user's own fit function in place of Synod's training


@dataclass(frozen=True)
class _View:
    """One poll: the latest height and the task as of the next block."""

    height: int
    resp: query_pb2.QueryTaskResponse

    @property
    def task(self) -> tasks_pb2.Task:
        """The task record."""
        return self.resp.task


class Worker:
    """One key working on one task through one node."""

    def __init__(
        self,
        rpc: CometRPC,
        key: PrivateKey,
        config: WorkerConfig,
        reporter: Reporter,
        sleep: Callable[[float], None] = time.sleep,
        make_trainer: Callable[[tasks_pb2.Task, str], Trainer] = LocalTrainer,
        querier: Querier | None = None,
        follower: BlockWaiter | None = None,
    ) -> None:
        self.rpc = rpc
        # With a verifying querier every task, checkpoint and update read is proven (a trust anchor).
        self.tasks = TasksClient(querier or rpc)
        self.verified = isinstance(querier, VerifiedQuerier)
        self.sender = TxSender(rpc, key)
        self.address = key.address
        self.config = config
        self.reporter = reporter
        self._sleep = sleep
        self._already = False  # whether the last _send found its tx's work already on chain
        self._pacer = BlockPacer(config.poll_interval, follower, sleep)
        self._make_trainer = self._trainer_factory(config, make_trainer)
        self._joined = False
        self._trainer: Trainer | None = None
        self._warm = False
        self._noted: set[tuple[int, Action]] = set()
        self._rounds_seen: int | None = None
        self._retrying = Retrier(reporter, sleep, rpc.url)
        self._attacker: Attacker | None = None
        if config.attack:
            try:
                attack = parse_worker_attack(config.attack)
            except AttackError as e:
                raise WorkerError(f"--attack: {e}") from None
            self._attacker = Attacker(attack, self.tasks, config.task_id, self.address)

    @staticmethod
    def _trainer_factory(
        config: WorkerConfig, make_trainer: Callable[[tasks_pb2.Task, str], Trainer]
    ) -> Callable[[tasks_pb2.Task, str], Trainer]:
        """The user's trainer when the config names one, else make_trainer (which needs data)."""
        if config.trainer is None:
            if not config.data_spec:
                raise WorkerError("no data to train on: give --data, or --trainer with your own code")
            return make_trainer
        if config.attack:
            raise WorkerError("--attack trains with Synod's own loop: it does not combine with --trainer")
        return functools.partial(CustomTrainer, user=config.trainer)

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> WorkerSummary:
        """Work until the task ends; return the summary."""
        self.reporter.info(
            f"{self.address} on task {self.config.task_id} via {self.rpc.url}; "
            f"saved updates in {self.config.state_dir}"
        )
        while True:
            view = self._poll()
            obs = self._observe(view)
            action = decide_action(obs)
            if action is Action.EXIT:
                return self._summary(view.task, view.resp.phase)
            self._keep_revealed_updates(view)
            self._act(action, view)
            if action is Action.WAIT and is_time_to_prepare(obs, view.task.schedule.rounds):
                self._warm_up(view.task)
            self._pacer.wait(view.height)

    def _poll(self) -> _View:
        """The latest height and the task's phase at the next block."""
        height = self._retrying("status", lambda: int(self.rpc.status()["sync_info"]["latest_block_height"]))
        try:
            resp = self._retrying("task query", lambda: self.tasks.task(self.config.task_id))
        except QueryFailed as e:
            raise WorkerError(f"task {self.config.task_id}: {e}") from None
        self._report_rounds(resp.task)
        if resp.phase not in TERMINAL_PHASES:
            s = resp.task.schedule
            line = StatusLine(
                resp.task.id, height, resp.phase, resp.round, s.rounds, resp.phase_end_height - height
            )
            self.reporter.status(line)
        return _View(height, resp)

    def _observe(self, view: _View) -> Observation:
        """What the chain and the state file say about our part in the current round."""
        phase, round_ = view.resp.phase, view.resp.round
        if not self._joined and phase not in TERMINAL_PHASES:
            members = self._retrying("participants", lambda: self.tasks.participants(view.task.id))
            self._joined = any(p.address == self.address for p in members)
        if round_ == 0 or phase not in ("commit", "reveal", "score") or not self._joined:
            return Observation(phase, round_, self._joined)
        state = self._retrying("round state", lambda: self.tasks.round_state(view.task.id, round_))
        commitment = next((c.hash for c in state.commitments if c.worker == self.address), None)
        revealed = any(r.worker == self.address for r in state.reveals)
        saved = self._saved(round_)
        return Observation(
            phase, round_, True, commitment, revealed, saved.commitment if saved is not None else None
        )

    def _saved(self, round_: int) -> SavedUpdate | None:
        """The update saved for round_, if any."""
        try:
            return load_update(self.config.state_dir, self.config.task_id, round_, self.address)
        except StateFileError as e:
            raise WorkerError(str(e)) from None

    def _act(self, action: Action, view: _View) -> None:
        """Take one step."""
        round_ = view.resp.round
        if action is Action.JOIN:
            # Compile first: a task closes its join phase as soon as it is full, and the last worker
            # to join must then be ready to train in round 1's commit phase like the others.
            self._warm_up(view.task)
            self._join(view.task)
        elif action is Action.TRAIN_AND_COMMIT:
            self._train_and_commit(view)
        elif action in (Action.COMMIT_SAVED, Action.REVEAL):
            saved = self._saved(round_)
            assert saved is not None  # decide_action saw it
            if action is Action.COMMIT_SAVED:
                self._note(
                    round_, action, f"round {round_}: re-sending the commitment saved before a restart"
                )
                self._commit(saved)
            elif saved.withhold:
                self._note(round_, action, f"round {round_}: withholding the reveal (--attack)", warn=True)
            elif self._waits_for_others(view):
                self._note(round_, action, f"round {round_}: revealing last, after the others (--attack)")
            else:
                self._reveal(saved)
        elif action is Action.MISSED:
            self._note(
                round_,
                action,
                f"round {round_}: its commit phase passed without a commitment of ours; skipping it",
                warn=True,
            )
        elif action is Action.CANNOT_REVEAL:
            self._note(
                round_,
                action,
                f"round {round_}: our commitment is on chain but no saved update in {self.config.state_dir} "
                "matches it, so it cannot be revealed (it will count as a missed reveal)",
                warn=True,
            )
        elif action is Action.NOT_PARTICIPANT:
            raise WorkerError(
                f"{self.address} is not a worker of task {view.task.id} and its join phase has closed"
            )

    def _note(self, round_: int, action: Action, message: str, warn: bool = False) -> None:
        """Report message once per round and action."""
        if (round_, action) not in self._noted:
            self._noted.add((round_, action))
            (self.reporter.warn if warn else self.reporter.info)(message)

    # --- steps ------------------------------------------------------------------------------

    def _trainer_for(self, task: tasks_pb2.Task) -> Trainer:
        """The trainer, its shard checked against the task (before any stake is bonded)."""
        if self._trainer is None:
            try:
                trainer = self._make_trainer(task, self.config.data_spec)
                trainer.description  # noqa: B018 - loads and checks the shard
            except TrainingError as e:
                raise WorkerError(str(e)) from None
            self._trainer = trainer
        return self._trainer

    def _join(self, task: tasks_pb2.Task) -> None:
        """Check the data fits, then join (bonding the worker stake)."""
        trainer = self._trainer_for(task)
        if task.trace.every_steps:
            samples = trainer.samples
            assert samples is not None  # only Synod's own training takes trace tasks (CustomTrainer refuses)
            self._check_trace_fits(task, samples)
        outcome = self._send([msg_join(self.address, task.id)], "join")
        if outcome is not None:
            stake = f"{task.worker_stake.amount}{task.worker_stake.denom}"
            self.reporter.info(
                f"joined task {task.id} in block {outcome.height} with {trainer.description} "
                f"(stake {stake} bonded)"
            )

    def _check_trace_fits(self, task: tasks_pb2.Task, samples: int) -> None:
        """Refuse to join a trace task whose trace of our shard the chain would reject as too long."""
        from app.ml.trace import compute_checkpoint_count

        h = task.hyper
        count = compute_checkpoint_count(samples, h.batch_size, h.local_epochs, task.trace.every_steps)
        params = self._retrying("params", self.tasks.params)
        if count > params.max_trace_checkpoints:
            raise WorkerError(
                f"task {task.id} checkpoints every {task.trace.every_steps} steps: a trace of {samples} "
                f"samples would have {count} checkpoints, more than the chain takes "
                f"({params.max_trace_checkpoints}); use a smaller shard"
            )

    def _declared_samples(self, task: tasks_pb2.Task, samples: int) -> int:
        """The num_samples to commit: at most tasks.max_num_samples, which the chain would refuse
        (and then slash as a missed reveal). Declaring fewer only lowers our weight in the mean; a
        trace task's replay needs the true count, so there it is an error instead."""
        cap = self._retrying("params", self.tasks.params).max_num_samples
        if not cap or samples <= cap:  # 0: a chain from before the cap
            return samples
        if task.trace.every_steps:
            raise WorkerError(
                f"task {task.id}: our shard has {samples} samples, over tasks.max_num_samples ({cap}), "
                "and a trace must declare them all; use a smaller shard"
            )
        self.reporter.info(f"declaring {cap} samples, tasks.max_num_samples, instead of {samples}")
        return cap

    def _waits_for_others(self, view: _View) -> bool:
        """A replaying attacker holds its reveal until every other commitment is revealed and kept:
        the reveal phase cannot close early without its own reveal, and its deadline is the limit."""
        if self._attacker is None or not self._attacker.needs_history:
            return False
        if view.resp.phase_end_height - view.height <= 2:
            return False
        state = self._retrying("round state", lambda: self.tasks.round_state(view.task.id, view.resp.round))
        return len(state.reveals) < len(state.commitments) - 1

    def _keep_revealed_updates(self, view: _View) -> None:
        """An attacker that replays others' updates fetches them while their round is open."""
        if self._attacker is None or view.resp.phase not in ("reveal", "score"):
            return
        attacker, round_ = self._attacker, view.resp.round
        try:
            fresh = self._retrying("revealed updates", lambda: attacker.collect(round_))
        except QueryFailed:
            return  # the round closed under us; its updates are gone
        if fresh:
            self.reporter.info(f"round {round_}: kept {fresh} updates other workers revealed")

    def _warm_up(self, task: tasks_pb2.Task) -> None:
        """Load the data and compile the training step once, so a commit phase has time to spare."""
        if self._warm:
            return
        trainer = self._trainer_for(task)
        _, weights = self._download(task.id, 0)
        try:
            with self.reporter.training("compiling the training step on the initial model"):
                trainer.warm_up(weights)
        except TrainingError as e:
            raise WorkerError(f"warming up on the initial model: {e}") from None
        self._warm = True

    def _download(self, task_id: int, round_: int) -> tuple[tasks_pb2.RoundRecord, bytes]:
        """A checkpoint, verified against its on-chain hash (a corrupt answer is asked again)."""
        while True:
            try:
                record, weights = self._retrying("model download", lambda: self.tasks.model(task_id, round_))
            except CheckpointMismatch as e:
                self.reporter.warn(f"{e}; asking again")
                self._sleep(1.0)
                continue
            if self.verified:
                self.reporter.info(
                    f"checkpoint {round_} of task {task_id} ({record.model_hash.hex()[:16]}) proven at "
                    f"height {self.tasks.querier.last_height}"
                )
            return record, weights

    def _train_and_commit(self, view: _View) -> None:
        """Train on the round's global model, save the update, then commit to it."""
        task, round_ = view.task, view.resp.round
        trainer = self._trainer_for(task)
        record, weights = self._download(task.id, task.rounds_done)
        description = f"round {round_}: training ({trainer.description})"
        relabel = self._attacker.relabel if self._attacker is not None else None
        try:
            with self.reporter.training(description) as on_step:
                trained = trainer.train(weights, round_, self.address, relabel, on_step)
            crafted = self._attack(task, round_, trained, weights)
        except TrainingError as e:
            raise WorkerError(str(e)) from None
        chosen = trained if crafted is None else crafted
        saved = SavedUpdate(
            task.id,
            round_,
            self.address,
            secrets.token_bytes(SALT_LEN),
            self._declared_samples(task, chosen.num_samples),
            chosen.update,
            record.model_hash,
            chosen.trace,
            chosen.data_spec,
            withhold=crafted is None,
        )
        save_update(self.config.state_dir, saved)
        self._warm = True
        self._commit(saved)

    def _attack(
        self, task: tasks_pb2.Task, round_: int, trained: TrainedUpdate, weights: bytes
    ) -> TrainedUpdate | None:
        """The attack's update in place of trained (None: withhold); trained itself when honest."""
        if self._attacker is None:
            return trained
        previous, accepted = None, frozenset[bytes]()
        if self._attacker.needs_history and task.rounds_done >= 1:
            previous = self._download(task.id, task.rounds_done - 1)[1]
            records = self._retrying("round records", lambda: self.tasks.rounds(task.id))
            accepted = frozenset(h for r in records for h in r.accepted_update_hashes)
        return self._attacker.craft(task, round_, trained, weights, previous, accepted)

    def _commit(self, saved: SavedUpdate) -> None:
        """Broadcast the commitment to a saved update."""
        msg = msg_commit(
            self.address,
            saved.task_id,
            saved.round,
            saved.salt,
            saved.num_samples,
            saved.update,
            saved.trace,
            saved.data_spec,
        )
        outcome = self._send([msg], f"round {saved.round} commit")
        if outcome is not None:
            self.reporter.info(
                f"round {saved.round}: committed to an update of {saved.num_samples} samples "
                f"(commitment {saved.commitment.hex()[:12]}) in block {outcome.height}"
            )

    def _reveal(self, saved: SavedUpdate) -> None:
        """Broadcast the saved update, its salt and sample count (a large update in parts first)."""
        parts, reveal, read_gas = reveal_messages(
            self.address,
            saved.task_id,
            saved.round,
            saved.salt,
            saved.num_samples,
            saved.update,
            saved.trace,
            saved.data_spec,
        )
        if parts:
            self._stage_parts(saved.round, parts, reveal, read_gas)
            return
        outcome = self._send([reveal], f"round {saved.round} reveal")
        if outcome is not None:
            self.reporter.info(f"round {saved.round}: revealed the update in block {outcome.height}")

    def _stage_parts(
        self, round_: int, parts: list[tx_pb2.MsgRevealPart], reveal: tx_pb2.MsgRevealUpdate, read_gas: int
    ) -> None:
        """Send the parts and the closing reveal back to back; after a failure (a restart that left
        some parts staged, node trouble) send them one at a time, each staged part counting as sent."""
        gas = compute_gas_limit([reveal]) + read_gas
        size = sum(len(p.data) for p in parts) + len(reveal.update)
        txs: list[tuple[Sequence[Message], int | None]] = [([p], None) for p in parts]
        try:
            outcome = self.sender.send_in_order([*txs, ([reveal], gas)], timeout=self.config.tx_timeout)[-1]
        except (TxRejected, RpcError) as e:
            self.reporter.warn(
                f"round {round_}: sending the update's parts back to back failed ({e}); one by one"
            )
            for i, part in enumerate(parts):
                if (
                    self._send([part], f"round {round_} part {i + 1}/{len(parts)}") is None
                    and not self._already
                ):
                    return  # the phase moved on or the node is away: the next look decides
            result = self._send([reveal], f"round {round_} reveal", gas)
            if result is None:
                return
            outcome = result
        self.reporter.info(
            f"round {round_}: revealed the update ({size:,} bytes in {len(parts) + 1} transactions), "
            f"complete in block {outcome.height}"
        )

    def _send(self, msgs: Sequence[Message], what: str, gas: int | None = None) -> TxOutcome | None:
        """Send and wait; None when it did not land (already done, phase over, node trouble);
        self._already says whether it was already done."""
        self._already = False
        try:
            return self.sender.send(msgs, timeout=self.config.tx_timeout, gas=gas)
        except TxRejected as e:
            key = (e.codespace, e.code)
            if key in _ALREADY:
                self.reporter.info(f"{what}: {_ALREADY[key]} (the chain has it)")
                self._already = True
                return None
            if key in _TRANSIENT:
                self.reporter.warn(f"{what} {e}; looking at the chain again")
                return None
            raise WorkerError(f"{what} {e}") from None
        except SenderError as e:
            raise WorkerError(str(e)) from None
        except RpcError as e:
            self.reporter.warn(f"{what}: {e}; will look at the chain again")
            self._sleep(1.0 if isinstance(e, NodeUnreachable) else 0.0)
            return None

    # --- reporting --------------------------------------------------------------------------

    def _report_rounds(self, task: tasks_pb2.Task) -> None:
        """Say how each newly closed round went for us."""
        if self._rounds_seen is None:
            self._rounds_seen = task.rounds_done
            return
        if task.rounds_done <= self._rounds_seen:
            return
        records = self._retrying("rounds", lambda: self.tasks.rounds(task.id))
        for record in records:
            if self._rounds_seen < record.round <= task.rounds_done:
                ours = "ours accepted" if self.address in record.accepted_workers else "ours not among them"
                outcome = tasks_pb2.RoundOutcome.Name(record.outcome).removeprefix("ROUND_OUTCOME_").lower()
                self.reporter.info(
                    f"round {record.round} closed: {outcome}, "
                    f"{len(record.accepted_workers)} accepted of {record.revealed} revealed ({ours}), "
                    f"model {record.model_hash.hex()[:12]}"
                )
        self._rounds_seen = task.rounds_done

    def _summary(self, task: tasks_pb2.Task, phase: str) -> WorkerSummary:
        """What we contributed and earned, from the participant records and the chain's reward rule."""
        members = self._retrying("participants", lambda: self.tasks.participants(task.id))
        return compute_summary(task, phase, members, self.address)
