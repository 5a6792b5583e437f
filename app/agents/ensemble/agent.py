"""The validator's ensemble sidecar: its model answers fast queries through the node's vote extensions.

`synod ensemble run` trains the validator's model (JAX, on its private shard), registers it on chain
(MsgRegisterModel, signed by the operator key) and then polls /consensus/pending as each block is
committed (its follower wakes it: app/agents/pace.py). For every pending fast query it fetches the
inputs (checked against their hash), predicts, and writes the predictions atomically to the node's
ensemble directory as QUERY_ID.bin. A watcher thread in the node process loads them into memory
(app/abci/answers.py) and ExtendVote puts what is loaded in its extension without ever waiting, so
no model runs inside the ABCI process and the ABCI loop never reads these files; an answer that
arrives after a precommit goes in the next one. Files of queries no longer pending are removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.agents.pace import BlockPacer
from app.agents.predictor.model import (
    LocalModel,
    Model,
    ModelError,
    compute_participant_seed,
    fetch_inputs,
    load_or_train,
    own_probabilities,
)
from app.agents.progress import Reporter
from app.agents.retry import Retrier
from app.client.consensus import ConsensusClient, InputsMismatch
from app.client.consensustx import msg_register_model
from app.client.follow import BlockWaiter
from app.client.rpc import CometRPC, NodeUnreachable, QueryFailed
from app.client.sender import SenderError, TxSender
from app.core.crypto import PrivateKey
from app.core.fsutil import write_atomically
from app.ml.predict import to_entries
from app.modules.consensus.logic import encode_predictions
from synod.consensus.v1 import consensus_pb2

__all__ = ["EnsembleConfig", "EnsembleError", "EnsembleSidecar", "write_answer"]


class EnsembleError(Exception):
    """The sidecar cannot go on (registration refused, no usable model)."""


@dataclass(frozen=True)
class EnsembleConfig:
    """What the sidecar runs: its model, where the node reads answers, and how often it polls."""

    arch: str
    data_spec: str
    answers_dir: Path  # the node home's data/ensemble (NodeHome.ensemble_dir)
    state_dir: Path  # where the trained model is kept across restarts
    poll_interval: float = 0.1  # seconds between polls without a follower (app/agents/pace.py)
    chain_id: str | None = None


def write_answer(directory: Path, query_id: int, blob: bytes) -> Path:
    """Write QUERY_ID.bin atomically (a reader sees the old file or the whole new one)."""
    return write_atomically(directory / f"{query_id}.bin", blob)


class EnsembleSidecar:
    """Registers the validator's model and keeps its answers to pending fast queries on disk."""

    def __init__(
        self,
        rpc: CometRPC,
        operator: PrivateKey,
        config: EnsembleConfig,
        reporter: Reporter,
        follower: BlockWaiter | None = None,
    ) -> None:
        self.client = ConsensusClient(rpc)
        self.sender = TxSender(rpc, operator, config.chain_id)
        self.operator = operator
        self.config = config
        self.reporter = reporter
        self.retry = Retrier(reporter, time.sleep, rpc.url)
        self._pacer = BlockPacer(config.poll_interval, follower, time.sleep)
        self.answered: set[int] = set()

    def run(self, stop: Callable[[], bool] = lambda: False) -> int:
        """Train, register, then answer until stop() (or Ctrl-C); returns how many queries it answered."""
        spec = LocalModel(
            self.config.arch, self.config.data_spec, compute_participant_seed(0, self.operator.address)
        )
        with self.reporter.training(f"{self.config.arch} on {self.config.data_spec}"):
            model = load_or_train(spec, self.config.state_dir)
            model.probabilities(
                np.zeros((1, model.n_features), dtype=np.float32)
            )  # compile now, not per query
        self._register()
        # The node's answer watcher polls this directory.
        self.config.answers_dir.mkdir(parents=True, exist_ok=True)
        height = 0  # the latest the follower reported; it does not ask /status itself
        while not stop():
            pending = self.retry("pending fast queries", self.client.pending)
            for query in pending:
                if query.id not in self.answered:
                    self._answer(model, query)
            self._forget({q.id for q in pending})
            height = self._pacer.wait(height) or height
        return len(self.answered)

    def _register(self) -> None:
        """Register the model unless the chain already lists this operator's."""
        models = self.retry("ensemble models", self.client.models)
        if any(m.operator == self.operator.address for m in models):
            self.reporter.info("model already registered")
            return
        description = f"{self.config.arch} on {self.config.data_spec}"
        try:
            outcome = self.sender.send([msg_register_model(self.operator.address, description)])
        except SenderError as e:
            raise EnsembleError(f"registering the model failed: {e}") from None
        self.reporter.info(f"registered model {description!r} at height {outcome.height}")

    def _answer(self, model: Model, query: consensus_pb2.PredictionQuery) -> None:
        """Predict on a pending query's inputs and leave the predictions for ExtendVote."""
        try:
            inputs = fetch_inputs(query)
            probs = own_probabilities(model, inputs.x, query.label_count)
        except (InputsMismatch, ModelError, QueryFailed, NodeUnreachable, ValueError) as e:
            self.reporter.warn(f"query {query.id}: cannot answer ({e})")
            self.answered.add(query.id)  # do not retry a query this model cannot answer
            return
        write_answer(self.config.answers_dir, query.id, encode_predictions(to_entries(probs)))
        self.answered.add(query.id)
        self.reporter.info(f"query {query.id}: {query.input_count} answers ready for the next vote")

    def _forget(self, pending: set[int]) -> None:
        """Remove the files of queries that settled or expired."""
        for query_id in sorted(self.answered - pending):
            (self.config.answers_dir / f"{query_id}.bin").unlink(missing_ok=True)
            self.answered.discard(query_id)
