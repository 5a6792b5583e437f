"""Proof-of-learning training traces: train with checkpoints, and spot-check one segment of them.

On a task whose training data is public (task.trace.every_steps > 0, the owner hands out shards)
a worker reveals, beside its update, the trace of the training that produced it; a committee
member re-executes one segment of it, chosen by the committee's seed, and compares.

Format. A trace is C int32 checkpoints, each WEIGHT_FORMAT.encode(weights), concatenated with no
header. Checkpoint 0 is the round's global model, checkpoint k the weights after k * every_steps
optimizer steps, and checkpoint C-1 the weights after the last step, so
C = ceil(steps / every_steps) + 1 with steps = epochs * ceil(n / b), b = min(batch_size, n), n the
shard's rows. The revealed update is compute_update_between(checkpoint 0, checkpoint C-1).

Batches. Epoch e visits the rows in compute_batch_order(task, round, worker, n, e) (a permutation
sorted by hash, no RNG state), cut into consecutive batches of b; the last batch is topped up from
the start of the same order with rows of weight 0, as app/ml/train.py does, so every step has one
shape. The loss is the masked mean softmax cross-entropy; the optimizer is the task's (optax sgd
or adam at the task's learning rate).

Segments. Segment k is the steps from checkpoint k to k+1. Training restarts every segment from
the *dequantized* checkpoint k with a fresh optimizer state (adam's moments and step count start
from zero at each checkpoint; sgd has none), so a segment is a pure function of (checkpoint k, its
batches, the hyperparameters) and can be re-executed alone.

Spot check. compute_segment(seed, ...) picks the segment; it passes when the re-executed weights
quantize to within task.trace.tolerance (max |difference|, WEIGHT_FORMAT units) of checkpoint k+1.
Float training differs across machines by a few units, hence a tolerance rather than equality.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import numpy as np
import optax
from numpy.typing import NDArray

from app.core.architectures import param_count
from app.core.crypto import AddressError, decode_address
from app.core.fixedpoint import WEIGHT_FORMAT, FixedPointError, compute_update_between, content_hash
from app.ml.datasets import DatasetError, Shard, load_shard, parse_data_spec
from app.ml.models import flatten, unflatten
from app.ml.quantize import WEIGHT_SPEC, QuantizationError, dequantize, quantize
from app.ml.train import OPTIMIZERS, StepCallback, masked_loss
from synod.tasks.v1 import tasks_pb2

__all__ = [
    "TraceError",
    "TraceRule",
    "TraceVerdict",
    "TracedUpdate",
    "check_segment",
    "check_trace_form",
    "compute_batch_order",
    "compute_checkpoint_count",
    "compute_segment",
    "compute_segment_error",
    "compute_step_count",
    "decode_trace",
    "load_trace_shard",
    "run_segment",
    "trace_rule",
    "train_with_trace",
    "verify_trace",
]

_BATCH_DOMAIN = b"synod/trace/batch-order/v1"
_SEGMENT_DOMAIN = b"synod/trace/segment/v1"


class TraceError(ValueError):
    """A trace is malformed, or its shard does not fit the task; the message says which."""


@dataclass(frozen=True)
class TraceRule:
    """Everything that fixes a trace besides the data: who trains which round, and how."""

    task_id: int
    round: int
    worker: bytes  # 20 address bytes; with task and round it fixes the batch order
    arch: str
    n_features: int
    n_classes: int
    optimizer: str
    learning_rate: float
    batch_size: int
    epochs: int
    every_steps: int
    input_shape: tuple[int, ...] = ()  # the task's ModelSpec.input_shape; empty: (n_features,)

    @property
    def size(self) -> int:
        """Parameters per checkpoint."""
        return param_count(self.arch, self.n_features, self.n_classes, self.input_shape)


class TracedUpdate(NamedTuple):
    """What a worker reveals on a trace task: the update its trace determines, the trace, its rows."""

    update: NDArray[np.int64]  # UPDATE_FORMAT integers
    trace: bytes
    num_samples: int


@dataclass(frozen=True)
class TraceVerdict:
    """A committee member's spot check of one trace."""

    passed: bool
    segment: int  # the segment re-executed, -1 if the trace failed before one was chosen
    error: int  # max |re-executed - claimed| in WEIGHT_FORMAT units, -1 if nothing was re-executed
    reason: str


def trace_rule(task: tasks_pb2.Task, round_: int, worker: bytes) -> TraceRule:
    """The rule of a worker's trace in one round of a trace task (learning rate from millionths)."""
    m, h = task.model, task.hyper
    return TraceRule(
        task.id,
        round_,
        worker,
        m.arch,
        m.n_features,
        m.n_classes,
        h.optimizer,
        h.learning_rate_ppm / 1e6,
        h.batch_size,
        h.local_epochs,
        task.trace.every_steps,
        tuple(m.input_shape),
    )


# --- the schedule ------------------------------------------------------------------------------


def compute_batch_order(
    task_id: int, round_: int, worker: bytes, n_samples: int, epoch: int
) -> NDArray[np.int64]:
    """The permutation of range(n_samples) that epoch visits: rows sorted by (hash key, index).

    key(i) = bytes [8i, 8i + 8) of SHAKE-256(domain | task u64 | round u32 | worker | epoch u32) as
    a big-endian u64. A hash instead of a seeded generator keeps the order independent of numpy's
    generator algorithms, so a committee on any version recomputes it.
    """
    seed = (
        _BATCH_DOMAIN
        + task_id.to_bytes(8, "big")
        + round_.to_bytes(4, "big")
        + worker
        + epoch.to_bytes(4, "big")
    )
    keys = np.frombuffer(hashlib.shake_256(seed).digest(8 * n_samples), dtype=">u8")
    return np.argsort(keys, kind="stable").astype(np.int64)


def compute_step_count(n_samples: int, batch_size: int, epochs: int) -> int:
    """Optimizer steps of local training: epochs x ceil(n / min(batch_size, n))."""
    if n_samples < 1 or batch_size < 1 or epochs < 1:
        raise TraceError(f"need rows, batch size and epochs >= 1, got {n_samples}, {batch_size}, {epochs}")
    batch = min(batch_size, n_samples)
    return epochs * -(-n_samples // batch)


def compute_checkpoint_count(n_samples: int, batch_size: int, epochs: int, every_steps: int) -> int:
    """Checkpoints in a trace: one at the start, one after every every_steps steps and one at the end."""
    if every_steps < 1:
        raise TraceError(f"a trace checkpoints every >= 1 steps, got {every_steps}")
    return -(-compute_step_count(n_samples, batch_size, epochs) // every_steps) + 1


def _segment_batches(
    rule: TraceRule, n_samples: int, segment: int
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float32]]]:
    """The (rows, row weights) of each step of one segment, in order."""
    total = compute_step_count(n_samples, rule.batch_size, rule.epochs)
    batch, per_epoch = min(rule.batch_size, n_samples), total // rule.epochs
    first = segment * rule.every_steps
    if not 0 <= first < total:
        raise TraceError(f"segment {segment} is outside the trace's {total} steps")
    mask = (np.arange(per_epoch * batch) < n_samples).astype(np.float32).reshape(per_epoch, batch)
    orders: dict[int, NDArray[np.int64]] = {}
    for step in range(first, min(first + rule.every_steps, total)):
        epoch, index = divmod(step, per_epoch)
        if epoch not in orders:
            order = compute_batch_order(rule.task_id, rule.round, rule.worker, n_samples, epoch)
            orders[epoch] = np.resize(order, per_epoch * batch).reshape(per_epoch, batch)
        yield orders[epoch][index], mask[index]


# --- training ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _make_step(
    arch: str, input_shape: tuple[int, ...], optimizer: str, learning_rate: float
) -> tuple[optax.GradientTransformation, Callable[..., Any]]:
    """The optimizer and a jitted step (params, state, x, y, mask) -> (params, state).

    Defined here rather than shared with app/ml/train.py: the step is part of the trace's
    specification, which committees re-execute, and must not drift with the untraced trainer.
    """
    transform = OPTIMIZERS[optimizer](learning_rate)

    @jax.jit
    def step(params, state, x, y, mask):  # type: ignore[no-untyped-def]
        grads = jax.grad(functools.partial(masked_loss, arch, input_shape))(params, x, y, mask)
        updates, state = transform.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return transform, step


def run_segment(
    rule: TraceRule, x: NDArray[np.float32], y: NDArray[np.int64], start: NDArray[np.int64], segment: int
) -> NDArray[np.int64]:
    """The checkpoint that segment reaches from checkpoint start (WEIGHT_FORMAT ints), fresh optimizer."""
    if rule.optimizer not in OPTIMIZERS:
        raise TraceError(
            f"unknown optimizer {rule.optimizer!r}; choose one of {', '.join(sorted(OPTIMIZERS))}"
        )
    weights = dequantize(start, WEIGHT_SPEC)
    params = unflatten(rule.arch, weights, rule.n_features, rule.n_classes, rule.input_shape)
    transform, step = _make_step(rule.arch, rule.input_shape, rule.optimizer, rule.learning_rate)
    state = transform.init(params)
    for rows, weights in _segment_batches(rule, len(x), segment):
        params, state = step(params, state, x[rows], y[rows], weights)
    return quantize(flatten(params), WEIGHT_SPEC)


def train_with_trace(
    rule: TraceRule,
    weights: NDArray[np.int64],
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    on_step: StepCallback | None = None,
) -> TracedUpdate:
    """Train from the global weights segment by segment; return the update, the trace and len(x).

    on_step, if given, is told (steps done, steps in all) after each segment. Raises
    QuantizationError if training diverges (non-finite weights).
    """
    if len(y) != len(x):
        raise TraceError(f"need as many labels as samples, got {len(x)} and {len(y)}")
    count = compute_checkpoint_count(len(x), rule.batch_size, rule.epochs, rule.every_steps)
    checkpoints = [np.asarray(weights, dtype=np.int64)]
    total = compute_step_count(len(x), rule.batch_size, rule.epochs)
    for segment in range(count - 1):
        checkpoints.append(run_segment(rule, x, y, checkpoints[-1], segment))
        if on_step is not None:
            on_step(min(total, (segment + 1) * rule.every_steps), total)
    trace = b"".join(WEIGHT_FORMAT.encode(c) for c in checkpoints)
    return TracedUpdate(compute_update_between(checkpoints[0], checkpoints[-1]), trace, len(x))


# --- checking ----------------------------------------------------------------------------------


def decode_trace(trace: bytes, size: int) -> NDArray[np.int64]:
    """The trace's checkpoints as a (C, size) array; at least two, each within the weight bound."""
    width = size * WEIGHT_FORMAT.width
    count, extra = divmod(len(trace), width)
    if extra or count < 2:
        raise TraceError(f"a trace is 2 or more checkpoints of {width} bytes, got {len(trace)} bytes")
    try:
        return np.stack(
            [WEIGHT_FORMAT.decode(trace[i * width : (i + 1) * width], size) for i in range(count)]
        )
    except FixedPointError as e:
        raise TraceError(f"trace: {e}") from None


def check_trace_form(
    rule: TraceRule, checkpoints: NDArray[np.int64], n_samples: int, model_hash: bytes
) -> None:
    """Raise TraceError unless the trace has the checkpoint count of its shard and starts at the model."""
    expected = compute_checkpoint_count(n_samples, rule.batch_size, rule.epochs, rule.every_steps)
    if len(checkpoints) != expected:
        raise TraceError(
            f"{n_samples} rows in batches of {rule.batch_size} for {rule.epochs} epochs, checkpointed "
            f"every {rule.every_steps} steps, make {expected} checkpoints; the trace has {len(checkpoints)}"
        )
    if content_hash(WEIGHT_FORMAT.encode(checkpoints[0])) != model_hash:
        raise TraceError("the trace's first checkpoint is not the round's global model")


def compute_segment(seed: bytes, task_id: int, round_: int, worker: bytes, n_segments: int) -> int:
    """The segment to re-execute: SHA-256(domain | seed | task u64 | round u32 | worker) mod n_segments.

    A seed fixed after the reveal (the committee's beacon) keeps a worker from knowing which
    segment to train honestly; a per-member seed spreads members over different segments.
    """
    if n_segments < 1:
        raise TraceError("a trace has at least one segment")
    digest = hashlib.sha256(
        _SEGMENT_DOMAIN + seed + task_id.to_bytes(8, "big") + round_.to_bytes(4, "big") + worker
    )
    return int.from_bytes(digest.digest(), "big") % n_segments


def compute_segment_error(
    rule: TraceRule,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    checkpoints: NDArray[np.int64],
    segment: int,
) -> int:
    """Max |re-executed - claimed| over the weights of segment's end checkpoint, in WEIGHT_FORMAT units."""
    if not 0 <= segment < len(checkpoints) - 1:
        raise TraceError(f"segment {segment} is outside a trace of {len(checkpoints)} checkpoints")
    recomputed = run_segment(rule, x, y, checkpoints[segment], segment)
    return int(np.max(np.abs(recomputed - checkpoints[segment + 1]), initial=0))


def check_segment(
    rule: TraceRule,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    checkpoints: NDArray[np.int64],
    segment: int,
    tolerance: int,
) -> bool:
    """True when re-executing segment from its start checkpoint lands within tolerance of its end."""
    try:
        return compute_segment_error(rule, x, y, checkpoints, segment) <= tolerance
    except QuantizationError:
        return False  # re-execution diverged where the worker claims it did not


@functools.lru_cache(maxsize=64)
def _cached_shard(data_spec: str) -> Shard:
    """A public shard, loaded once per process (committee members check many traces of few shards)."""
    return load_shard(data_spec)


def load_trace_shard(task: tasks_pb2.Task, data_spec: str) -> Shard:
    """The public shard a trace names, checked against the task's dataset and model shape."""
    try:
        spec = parse_data_spec(data_spec)
        shard = _cached_shard(data_spec)
    except DatasetError as e:
        raise TraceError(str(e)) from None
    m = task.model
    if spec.dataset != task.data.dataset or (shard.x.shape[1], shard.n_classes) != (
        m.n_features,
        m.n_classes,
    ):
        raise TraceError(f"data {data_spec!r} does not fit task {task.id} ({task.data.dataset}, {m.arch})")
    return shard


def verify_trace(
    task: tasks_pb2.Task,
    round_: int,
    worker: str,
    data_spec: str,
    trace: bytes,
    seed: bytes,
    num_samples: int | None = None,
) -> TraceVerdict:
    """A committee member's whole check: form, shard, then one seed-chosen segment re-executed.

    task is the task as of the round's score phase (its model_hash is the round's global model);
    num_samples, when given (the reveal's), must be the shard's row count.
    """
    try:
        rule = trace_rule(task, round_, decode_address(worker))
        shard = load_trace_shard(task, data_spec)
        if num_samples is not None and num_samples != len(shard.x):
            raise TraceError(
                f"the reveal claims {num_samples} samples; shard {data_spec!r} has {len(shard.x)}"
            )
        checkpoints = decode_trace(trace, rule.size)
        check_trace_form(rule, checkpoints, len(shard.x), task.model_hash)
    except (TraceError, AddressError) as e:
        return TraceVerdict(False, -1, -1, str(e))
    segment = compute_segment(seed, task.id, round_, rule.worker, len(checkpoints) - 1)
    try:
        error = compute_segment_error(rule, shard.x, shard.y, checkpoints, segment)
    except QuantizationError:
        return TraceVerdict(False, segment, -1, f"segment {segment} diverges when re-executed")
    passed = error <= task.trace.tolerance
    verdict = "within" if passed else "beyond"
    reason = (
        f"segment {segment} re-executed: off by {error} units, {verdict} the tolerance {task.trace.tolerance}"
    )
    return TraceVerdict(passed, segment, error, reason)
