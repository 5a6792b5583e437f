"""The predictor: take part in one open prediction query with a private model, round after round.

Every poll (status height + /consensus/query) the predictor observes the phase of the next block,
whether it is registered, the predictions it saved for the round and what its transactions
achieved, and takes the one step decide_action picks (app/agents/predictor/plan.py). Before round 0
it trains its model on its private shard and fetches the query's inputs (checked against their
hash); in round 0's commit phase it registers and commits in one transaction. Each round it writes
the salt and predictions to its state file *before* broadcasting the commitment, and reveals them
in the reveal phase. From round 1 on it first reads the previous round's tally (/consensus/round)
and the peers the chain shows it (/consensus/peers), and revises its model's view against them.
With --attack it submits what the attack prescribes instead. It exits once the query has settled,
with a summary of how its model and final predictions compare with the settled answers.
Between polls it waits for the next block through its follower (app/agents/pace.py).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from google.protobuf.message import Message
from numpy.typing import NDArray

from app.agents.pace import BlockPacer
from app.agents.predictor.model import (
    LocalModel,
    Model,
    ModelError,
    QueryInputs,
    compute_entries,
    compute_participant_seed,
    compute_query_seed,
    fetch_inputs,
    load_or_train,
    own_probabilities,
)
from app.agents.predictor.plan import (
    RUNNING_PHASES,
    Action,
    Observation,
    decide_action,
    is_time_to_prepare,
)
from app.agents.predictor.state import SavedPredictions, StateFileError, load_predictions, save_predictions
from app.agents.predictor.summary import PredictorSummary, compute_summary
from app.agents.predictor.view import read_revealed, read_round_view
from app.agents.progress import Reporter, StatusLine
from app.agents.retry import Retrier
from app.client.consensus import ConsensusClient, InputsMismatch
from app.client.consensustx import SALT_LEN, msg_commit_predictions, msg_register, msg_reveal_predictions
from app.client.follow import BlockWaiter
from app.client.querier import Querier
from app.client.rpc import CometRPC, NodeUnreachable, QueryFailed, RpcError
from app.client.sender import SenderError, TxOutcome, TxRejected, TxSender
from app.core.crypto import PrivateKey
from app.core.errors import ErrInvalidSequence, ErrorCode
from app.ml.predattacks import PredictAttack, PredictAttackError, parse_predict_attack
from app.modules.consensus import errors
from app.modules.consensus.logic import encode_predictions
from synod.base.v1 import coin_pb2
from synod.consensus.v1 import consensus_pb2, query_pb2

__all__ = ["PredictorAgent", "PredictorConfig", "PredictorError", "PredictorSummary"]

# Worth another look at the chain rather than giving up: the phase moved on under us, or a
# transaction of ours is still pending (its sequence is taken).
_TRANSIENT = (errors.ErrWrongPhase, errors.ErrWrongRound, ErrInvalidSequence)


class PredictorError(Exception):
    """The predictor cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class PredictorConfig:
    """Which query, which model on which data, and how to behave."""

    query_id: int
    arch: str
    data_spec: str
    state_dir: Path
    stake: coin_pb2.Coin | None = None  # None: the query's min_stake
    trust: float = 0.5  # exponent on the network view in predict.revise (its DEFAULT_TRUST)
    attack: str = ""  # a prediction attack spec (app/ml/predattacks); empty: honest
    poll_interval: float = 0.3  # seconds between polls without a follower (app/agents/pace.py)
    tx_timeout: float = 20.0
    chain_id: str | None = None  # None: the one the node reports


def _is(e: TxRejected, err: ErrorCode) -> bool:
    """True if the rejection is the registered error err."""
    return e.is_(err.codespace, err.code)


class PredictorAgent:
    """One key predicting on one query through one node."""

    def __init__(
        self,
        rpc: CometRPC,
        key: PrivateKey,
        config: PredictorConfig,
        reporter: Reporter,
        sleep: Callable[[float], None] = time.sleep,
        make_model: Callable[[LocalModel, Path], Model] | None = None,
        querier: Querier | None = None,
        follower: BlockWaiter | None = None,
    ) -> None:
        self.rpc = rpc
        # With a verifying querier the query, its rounds, peers and answer are proven.
        self.client = ConsensusClient(querier or rpc)
        self.sender = TxSender(rpc, key, config.chain_id)
        self.address = key.address
        self.config = config
        self.reporter = reporter
        self._sleep = sleep
        self._pacer = BlockPacer(config.poll_interval, follower, sleep)
        self._make_model = make_model or load_or_train
        self._retrying = Retrier(reporter, sleep, rpc.url)
        self._seed = compute_participant_seed(config.query_id, key.address)
        self._attack: PredictAttack | None = None
        if config.attack:
            try:
                self._attack = parse_predict_attack(config.attack)
            except PredictAttackError as e:
                raise PredictorError(f"--attack: {e}") from None
        self._model: Model | None = None
        self._inputs: QueryInputs | None = None
        self._probs: NDArray[np.float64] | None = None
        self._registered = False
        self._committed: set[int] = set()
        self._revealed: set[int] = set()  # landed, or refused for good (then also in _noted)
        self._noted: set[tuple[int, Action]] = set()
        self._waiting_noted = False

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> PredictorSummary:
        """Predict until the query settles; return the summary."""
        behaviour = self._behaviour()
        self.reporter.info(
            f"{self.address} on query {self.config.query_id} via {self.rpc.url} ({behaviour}); "
            f"state in {self.config.state_dir}"
        )
        while True:
            height, resp = self._poll()
            if resp is None:
                self._pacer.wait(height)
                continue
            obs = self._observe(resp)
            action = decide_action(obs)
            if action is Action.EXIT:
                return self._summary(resp)
            if self._needs_preparing(action, obs):
                # Training and the first inputs fetch take a while: look at the chain again at once
                # after them, so a phase that ended meanwhile is not sent into.
                self._own_probabilities(resp.query)
                continue
            self._act(action, resp)
            if is_time_to_prepare(obs, resp.query.rounds) and self._probs is None:
                self._own_probabilities(resp.query)  # a restarted predictor, idle until the next round
            self._pacer.wait(height)

    def _needs_preparing(self, action: Action, obs: Observation) -> bool:
        """True if action needs the model's probabilities, which are not ready yet."""
        if self._probs is not None:
            return False
        return action is Action.PREDICT_AND_COMMIT or (action is Action.REGISTER and not obs.saved)

    def _behaviour(self) -> str:
        """honest (trust T), or attack:NAME."""
        return f"attack:{self._attack.name}" if self._attack else f"honest, trust {self.config.trust:g}"

    def _poll(self) -> tuple[int, query_pb2.QueryQueryResponse | None]:
        """The latest height and the query's phase at the next block; None while the query is not
        posted yet (the model trains meanwhile)."""
        height = self._retrying("status", lambda: int(self.rpc.status()["sync_info"]["latest_block_height"]))
        try:
            resp = self._retrying("query", lambda: self.client.query(self.config.query_id))
        except QueryFailed as e:
            missing = errors.ErrQueryNotFound
            if e.code != missing.code or missing.description not in str(e):
                raise PredictorError(f"query {self.config.query_id}: {e}") from None
            if not self._waiting_noted:
                self.reporter.info(f"query {self.config.query_id} is not posted yet; training while waiting")
                self._waiting_noted = True
            self._get_model()
            return height, None
        if resp.phase in RUNNING_PHASES:
            line = StatusLine(
                resp.query.id,
                height,
                resp.phase,
                resp.round,
                resp.query.rounds,
                max(resp.phase_end_height - height, 0),
                subject="query",
            )
            self.reporter.status(line)
        return height, resp

    def _observe(self, resp: query_pb2.QueryQueryResponse) -> Observation:
        """What the chain, the state files and our transactions say about the current round."""
        phase, round_ = resp.phase, resp.round
        if not self._registered and phase in RUNNING_PHASES:
            found = self._retrying("participants", lambda: self.client.participants(resp.query.id))
            self._registered = any(p.address == self.address for p in found)
        if phase not in RUNNING_PHASES:
            return Observation(phase, round_, self._registered)
        return Observation(
            phase,
            round_,
            self._registered,
            saved=self._saved(round_) is not None,
            committed=round_ in self._committed,
            revealed=round_ in self._revealed,
        )

    def _saved(self, round_: int) -> SavedPredictions | None:
        """The predictions saved for round_, if any."""
        try:
            return load_predictions(self.config.state_dir, self.config.query_id, round_, self.address)
        except StateFileError as e:
            raise PredictorError(str(e)) from None

    def _act(self, action: Action, resp: query_pb2.QueryQueryResponse) -> None:
        """Take one step."""
        query, round_ = resp.query, resp.round
        if action is Action.FAST:
            raise PredictorError(
                f"query {query.id} is a fast query: the validators' ensemble answers it "
                "(`synod tx consensus register-model`); predictors take part in open queries"
            )
        if action is Action.NOT_PARTICIPANT:
            raise PredictorError(
                f"{self.address} is not registered for query {query.id}, and registration closed with "
                "round 0's commit phase"
            )
        if action is Action.REGISTER:
            self._register(query)
        elif action is Action.PREDICT_AND_COMMIT:
            self._commit(query, self._predict(query, round_))
        elif action is Action.COMMIT_SAVED:
            self._note(round_, action, f"round {round_}: re-sending the commitment saved before a restart")
            saved = self._saved(round_)
            assert saved is not None  # decide_action saw it
            self._commit(query, saved)
        elif action is Action.REVEAL:
            saved = self._saved(round_)
            assert saved is not None
            self._reveal(query, saved)
        elif action is Action.MISSED:
            self._note(
                round_, action, f"round {round_}: its commit phase passed without ours; skipping it", True
            )

    def _note(self, round_: int, action: Action, message: str, warn: bool = False) -> None:
        """Report message once per round and action."""
        if (round_, action) not in self._noted:
            self._noted.add((round_, action))
            (self.reporter.warn if warn else self.reporter.info)(message)

    # --- the model and the predictions ------------------------------------------------------

    def _get_model(self) -> Model:
        """The local model: loaded from the state directory, else trained on the private shard."""
        if self._model is None:
            spec = LocalModel(self.config.arch, self.config.data_spec, self._seed)
            with self.reporter.training(f"model {spec.arch} on {spec.data_spec}"):
                try:
                    self._model = self._make_model(spec, self.config.state_dir)
                except ModelError as e:
                    raise PredictorError(str(e)) from None
        return self._model

    def _own_probabilities(self, query: consensus_pb2.PredictionQuery) -> NDArray[np.float64]:
        """The model's probabilities on the query's inputs (fetched and checked once)."""
        if self._probs is None:
            model = self._get_model()
            try:
                self._inputs = fetch_inputs(query)
                self._probs = own_probabilities(model, self._inputs.x, query.label_count)
            except (ModelError, InputsMismatch) as e:
                raise PredictorError(str(e)) from None
        return self._probs

    def _predict(self, query: consensus_pb2.PredictionQuery, round_: int) -> SavedPredictions:
        """Make, encode and save round_'s predictions (revised against round_ - 1 after round 0)."""
        probs = self._own_probabilities(query)
        view = None
        if round_ > 0:
            try:
                view, line = read_round_view(self.client, self._retrying, query, round_ - 1, self.address)
                self.reporter.info(line)
            except QueryFailed as e:
                self.reporter.warn(f"round {round_ - 1}'s tally is not readable ({e}); predicting unrevised")
        seeds = (self._seed, compute_query_seed(query))
        entries, source = compute_entries(round_, probs, view, self.config.trust, self._attack, seeds)
        saved = SavedPredictions(
            query.id, round_, self.address, secrets.token_bytes(SALT_LEN), encode_predictions(entries), source
        )
        save_predictions(self.config.state_dir, saved)
        return saved

    # --- transactions -----------------------------------------------------------------------

    def _register(self, query: consensus_pb2.PredictionQuery) -> None:
        """Register with stake and commit to round 0's predictions in one transaction."""
        saved = self._saved(0) or self._predict(query, 0)
        stake = self.config.stake or query.min_stake
        msgs = [
            msg_register(self.address, query.id, stake),
            msg_commit_predictions(self.address, query.id, 0, saved.salt, saved.predictions),
        ]
        result = self._send(msgs, "register and round 0 commit")
        if isinstance(result, TxOutcome):
            self._registered = True
            self._committed.add(0)
            self.reporter.info(
                f"registered with stake {stake.amount}{stake.denom} and committed to round 0 "
                f"({saved.source}, commitment {saved.commitment.hex()[:12]}) in block {result.height}"
            )
        elif result is not None and _is(result, errors.ErrAlreadyRegistered):
            self.reporter.info("already registered (the chain has it); committing on its own")
            self._registered = True
        elif result is not None:
            raise PredictorError(f"register and round 0 commit {result}")

    def _commit(self, query: consensus_pb2.PredictionQuery, saved: SavedPredictions) -> None:
        """Broadcast the commitment to saved predictions."""
        msg = msg_commit_predictions(self.address, query.id, saved.round, saved.salt, saved.predictions)
        result = self._send([msg], f"round {saved.round} commit")
        if isinstance(result, TxOutcome):
            self._committed.add(saved.round)
            self.reporter.info(
                f"round {saved.round}: committed to {saved.source} predictions "
                f"(commitment {saved.commitment.hex()[:12]}) in block {result.height}"
            )
        elif result is not None and _is(result, errors.ErrAlreadyCommitted):
            self.reporter.info(f"round {saved.round} commit: already committed (the chain has it)")
            self._committed.add(saved.round)
        elif result is not None:
            raise PredictorError(f"round {saved.round} commit {result}")

    def _reveal(self, query: consensus_pb2.PredictionQuery, saved: SavedPredictions) -> None:
        """Broadcast the saved predictions and their salt."""
        msg = msg_reveal_predictions(self.address, query.id, saved.round, saved.salt, saved.predictions)
        result = self._send([msg], f"round {saved.round} reveal")
        if isinstance(result, TxOutcome):
            self.reporter.info(f"round {saved.round}: revealed in block {result.height}")
        elif result is None:
            return
        elif _is(result, errors.ErrAlreadyRevealed):
            self.reporter.info(f"round {saved.round} reveal: already revealed (the chain has it)")
        elif _is(result, errors.ErrNoCommitment) or _is(result, errors.ErrCommitmentMismatch):
            self.reporter.warn(
                f"round {saved.round}: the chain holds no commitment to what {self.config.state_dir} saved "
                f"({result.log}); the round counts as missed"
            )
        else:
            raise PredictorError(f"round {saved.round} reveal {result}")
        self._revealed.add(saved.round)

    def _send(self, msgs: Sequence[Message], what: str) -> TxOutcome | TxRejected | None:
        """Send and wait: the outcome, a rejection for the caller to judge, or None to look again."""
        try:
            return self.sender.send(msgs, timeout=self.config.tx_timeout)
        except TxRejected as e:
            if any(_is(e, err) for err in _TRANSIENT):
                self.reporter.warn(f"{what} {e}; looking at the chain again")
                return None
            return e
        except SenderError as e:
            raise PredictorError(str(e)) from None
        except RpcError as e:
            self.reporter.warn(f"{what}: {e}; will look at the chain again")
            self._sleep(1.0 if isinstance(e, NodeUnreachable) else 0.0)
            return None

    # --- the end ----------------------------------------------------------------------------

    def _summary(self, resp: query_pb2.QueryQueryResponse) -> PredictorSummary:
        """How our model and predictions compare with the settlement; our stake and payout."""
        query = resp.query
        try:
            settlement = self._retrying("answer", lambda: self.client.answer(query.id))
        except QueryFailed:
            settlement = consensus_pb2.Settlement(query_id=query.id)
        found = self._retrying("participants", lambda: self.client.participants(query.id))
        mine = next((p for p in found if p.address == self.address), None)
        own = None
        if mine is not None:
            try:
                from app.ml.predict import to_entries

                own = to_entries(self._own_probabilities(query))
            except PredictorError as e:
                self.reporter.warn(f"cannot compare our own model: {e}")
        last = settlement.round if settlement.height else query.rounds
        revealed = read_revealed(self.client, self._retrying, query, self.address, last)
        labels = self._inputs.labels if self._inputs is not None else None
        return compute_summary(
            query, resp.phase, settlement, self.address, mine, self._behaviour(), revealed, own, labels
        )
