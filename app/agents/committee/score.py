"""What a committee member computes for one round: the baseline and every update's score, the trace
spot checks, the direction test, and (when told to misbehave) what an attack makes of them.

With the committee's parameters at hand a member scores on its own sample of the evaluation rows
(app.modules.committee.logic.compute_eval_sample: derived from the committee's seed and the member's
address, so anyone can check it), and, when the direction test is on, trains a reference update from
the global model on that sample with the task's hyperparameters and attests each update's cosine with
it and its norm relative to the round's median (app.ml.scoring.score_directions).

JAX and scikit-learn are imported on first use (app/ml/scoring.py, app/ml/trace.py, the evaluation
data): a member that is never seated, or a lazy one, never pays for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from app.core.architectures import model_param_count
from app.core.crypto import decode_address
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT
from app.ml.attacks import CommitteeAttack
from app.modules.committee.logic import compute_eval_sample
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
    operator: str = ""  # the scoring member's address: it picks the member's evaluation rows
    params: committee_pb2.Params | None = None  # None: every row, no direction test

    def sample_rows(self, rows: int) -> list[int]:
        """The evaluation rows this member scores: its seed-chosen sample, or all of them."""
        size = int(self.params.eval_sample_rows) if self.params is not None else 0
        if size <= 0 or not self.operator:
            return list(range(rows))
        seed = bytes(self.committee.seed.seed)
        operator = decode_address(self.operator)
        return compute_eval_sample(seed, self.task.id, self.committee.round, operator, rows, size)

    @property
    def checks_direction(self) -> bool:
        """Whether the chain runs the direction test (max_norm_ratio_bps switched on)."""
        return self.params is not None and self.params.max_norm_ratio_bps > 0


@dataclass(frozen=True)
class RoundScore:
    """What a member attests: baseline and per-worker scores (basis points), failed spot checks, and
    per worker (direction_bps, norm_bps) when the direction test is on."""

    baseline_bps: int
    scores: dict[str, int]
    spot_check_failed: dict[str, bool] = field(default_factory=dict)
    directions: dict[str, tuple[int, int]] = field(default_factory=dict)

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
        from app.ml.scoring import compute_reference_update, score_round
        from app.ml.train import TrainConfig

        data = self._eval_data(task)
        size = model_param_count(task.model)
        zeros = np.zeros(size, np.int64)
        score_round(task.model.arch, zeros, [zeros], data.x, data.y, task.model.input_shape)
        # The direction test's reference training: batches are padded to one shape, so any rows compile it.
        h = task.hyper
        config = TrainConfig(h.optimizer, h.learning_rate_ppm / 1e6, h.batch_size, h.local_epochs, 0)
        compute_reference_update(task.model.arch, zeros, data.x, data.y, config, task.model.input_shape)

    def score(self, inputs: RoundInputs) -> RoundScore:
        """Accuracy of the global model and of the model plus each update (exactly as the chain adds
        them) on this member's rows, and the updates' directions when the chain tests them."""
        from app.ml.scoring import score_round

        task, workers = inputs.task, list(inputs.committee.workers)
        data = self._eval_data(task)
        rows = np.asarray(inputs.sample_rows(int(data.y.shape[0])))
        x, y = data.x[rows], data.y[rows]
        size = model_param_count(task.model)
        weights = WEIGHT_FORMAT.decode(inputs.weights, size)
        updates = [UPDATE_FORMAT.decode(inputs.updates[w], size) for w in workers]
        baseline, scores = score_round(task.model.arch, weights, updates, x, y, task.model.input_shape)
        failed = {w: not self._passes_spot_check(inputs, w) for w in inputs.traces}
        directions = _score_directions(inputs, weights, updates, x, y) if inputs.checks_direction else []
        return RoundScore(
            baseline,
            dict(zip(workers, scores, strict=True)),
            failed,
            dict(zip(workers, directions, strict=True)) if directions else {},
        )

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


def _score_directions(
    inputs: RoundInputs, weights: np.ndarray, updates: list[np.ndarray], x: np.ndarray, y: np.ndarray
) -> list[tuple[int, int]]:
    """Each update's (direction_bps, norm_bps) against the reference this member trains on its rows."""
    from app.ml.scoring import compute_reference_update, score_directions
    from app.ml.train import TrainConfig

    task, h = inputs.task, inputs.task.hyper
    # Shuffle seed 0: the reference is a function of the member's rows alone, so anyone can redo it.
    config = TrainConfig(h.optimizer, h.learning_rate_ppm / 1e6, h.batch_size, h.local_epochs, 0)
    reference = compute_reference_update(task.model.arch, weights, x, y, config, task.model.input_shape)
    return score_directions(updates, reference)


def compute_attested(
    true: RoundScore | None,
    workers: Sequence[str],
    attack: CommitteeAttack | None,
    colluding_workers: frozenset[str] = frozenset(),
) -> RoundScore:
    """What to attest: the true scores, or what the attack makes of them (a lazy one gets None).

    The spot-check flags and directions are the member's own findings; an attack that skipped
    evaluation has none (it attests direction 0, which the median then outvotes and flags).
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
    if true is None:
        return RoundScore(baseline, scores)
    return RoundScore(baseline, scores, dict(true.spot_check_failed), dict(true.directions))
