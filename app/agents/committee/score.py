"""What a committee member computes for one round: the baseline and every update's score, the trace
spot checks, and (when told to misbehave) what an attack makes of them.

JAX and scikit-learn are imported on first use (app/ml/scoring.py, app/ml/trace.py, the evaluation
data): a member that is never seated, or a lazy one, never pays for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from app.core.architectures import model_param_count
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT
from app.ml.attacks import CommitteeAttack
from synod.committee.v1 import committee_pb2
from synod.tasks.v1 import tasks_pb2

if TYPE_CHECKING:
    from app.ml.evaldata import EvalData  # scikit-learn: loaded only when a round is scored

__all__ = [
    "LocalScorer",
    "RevealedTrace",
    "RoundInputs",
    "RoundScore",
    "Scorer",
    "ScoringError",
    "compute_attested",
]


class ScoringError(Exception):
    """A round cannot be scored on this machine (its evaluation data differs from the task's)."""


@dataclass(frozen=True)
class RevealedTrace:
    """A worker's revealed training trace and the public shard it names (trace tasks only)."""

    data_spec: str
    trace: bytes
    num_samples: int


@dataclass(frozen=True, eq=False)
class RoundInputs:
    """Everything one round's scoring reads, each payload already checked against its on-chain hash."""

    task: tasks_pb2.Task  # as of the score phase: model_hash is the round's global model
    committee: committee_pb2.Committee
    weights: bytes  # the global model, WEIGHT_FORMAT bytes
    updates: Mapping[str, bytes]  # per committee worker, UPDATE_FORMAT bytes
    traces: Mapping[str, RevealedTrace] = field(default_factory=dict)


@dataclass(frozen=True)
class RoundScore:
    """What a member attests: baseline and per-worker scores (basis points), failed spot checks."""

    baseline_bps: int
    scores: dict[str, int]
    spot_check_failed: dict[str, bool] = field(default_factory=dict)

    @property
    def failed_workers(self) -> list[str]:
        """Workers whose trace failed the spot check."""
        return [w for w, failed in self.spot_check_failed.items() if failed]


class Scorer(Protocol):
    """What the member needs from evaluation (LocalScorer; tests substitute their own)."""

    def score(self, inputs: RoundInputs) -> RoundScore:
        """Score the global model and every committee worker's update, and spot-check their traces."""
        ...

    def warm_up(self, task: tasks_pb2.Task) -> None:
        """Get ready to score task quickly (load what it needs, compile)."""
        ...


class LocalScorer:
    """Scores with JAX on this machine, against each task's evaluation data (loaded once per task)."""

    def __init__(self) -> None:
        self._data: dict[int, EvalData] = {}

    def _eval_data(self, task: tasks_pb2.Task) -> EvalData:
        """The task's evaluation rows, checked against its eval hash."""
        if task.id not in self._data:
            from app.agents.evaluation import task_eval_data
            from app.ml.datasets import DatasetError

            try:
                self._data[task.id] = task_eval_data(task)
            except DatasetError as e:
                raise ScoringError(f"task {task.id}: {e}") from None
        return self._data[task.id]

    def warm_up(self, task: tasks_pb2.Task) -> None:
        """Load the task's evaluation data and compile scoring on a zero model and update."""
        from app.ml.scoring import score_round

        data = self._eval_data(task)
        size = model_param_count(task.model)
        zeros = np.zeros(size, np.int64)
        score_round(task.model.arch, zeros, [zeros], data.x, data.y, task.model.input_shape)

    def score(self, inputs: RoundInputs) -> RoundScore:
        """Accuracy of the global model and of the model plus each update, exactly as the chain adds them."""
        from app.ml.scoring import score_round

        task, workers = inputs.task, list(inputs.committee.workers)
        data = self._eval_data(task)
        size = model_param_count(task.model)
        weights = WEIGHT_FORMAT.decode(inputs.weights, size)
        updates = [UPDATE_FORMAT.decode(inputs.updates[w], size) for w in workers]
        baseline, scores = score_round(
            task.model.arch, weights, updates, data.x, data.y, task.model.input_shape
        )
        failed = {w: not self._passes_spot_check(inputs, w) for w in inputs.traces}
        return RoundScore(baseline, dict(zip(workers, scores, strict=True)), failed)

    @staticmethod
    def _passes_spot_check(inputs: RoundInputs, worker: str) -> bool:
        """Re-execute the trace segment the committee's seed picks (the same one for every member)."""
        from app.ml.trace import verify_trace

        t = inputs.traces[worker]
        verdict = verify_trace(
            inputs.task,
            inputs.committee.round,
            worker,
            t.data_spec,
            t.trace,
            bytes(inputs.committee.seed.seed),
            t.num_samples,
        )
        return verdict.passed


def compute_attested(
    true: RoundScore | None,
    workers: Sequence[str],
    attack: CommitteeAttack | None,
    colluding_workers: frozenset[str] = frozenset(),
) -> RoundScore:
    """What to attest: the true scores, or what the attack makes of them (a lazy one gets None).

    The spot-check flags are the member's own findings; an attack that skipped evaluation has none.
    """
    if attack is None:
        if true is None:
            raise ValueError("an honest member attests only what it evaluated")
        return true
    baseline, scores = attack.attest(
        true.baseline_bps if true else None,
        dict(true.scores) if true else None,
        set(colluding_workers),
        list(workers),
    )
    return RoundScore(baseline, scores, dict(true.spot_check_failed) if true else {})
