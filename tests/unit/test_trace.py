"""Proof-of-learning traces: batch order, training with checkpoints, and the committee's spot check."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.crypto import encode_address
from app.core.fixedpoint import WEIGHT_FORMAT, compute_update_between, content_hash
from app.ml.datasets import load_shard
from app.ml.models import flatten, init_params
from app.ml.quantize import WEIGHT_SPEC, quantize
from app.ml.trace import (
    TraceError,
    check_segment,
    compute_batch_order,
    compute_checkpoint_count,
    compute_segment,
    compute_segment_error,
    decode_trace,
    run_segment,
    trace_rule,
    train_with_trace,
    verify_trace,
)
from synod.tasks.v1 import tasks_pb2

SPEC = "digits:shard=1/8:seed=3"
WORKER = bytes(range(20))
ADDRESS = encode_address(WORKER)
SHARD = load_shard(SPEC)
SEEDS = [bytes([i]) * 32 for i in range(24)]  # enough to hit every segment of the 5-segment traces below


def _task(arch: str = "logreg", optimizer: str = "sgd", every: int = 4, tolerance: int = 4):  # noqa: ANN202
    """A digits trace task whose current model is init_params(seed 0), and that model's ints."""
    weights = quantize(flatten(init_params(arch, 64, 10, 0)), WEIGHT_SPEC)
    task = tasks_pb2.Task(
        id=3,
        model=tasks_pb2.ModelSpec(arch=arch, n_features=64, n_classes=10),
        hyper=tasks_pb2.Hyperparams(
            optimizer=optimizer, learning_rate_ppm=100_000, batch_size=16, local_epochs=2
        ),
        data=tasks_pb2.DataRef(dataset="digits"),
        trace=tasks_pb2.TraceSpec(every_steps=every, tolerance=tolerance),
        model_hash=content_hash(WEIGHT_FORMAT.encode(weights)),
    )
    return task, weights


def _honest(arch: str = "logreg", optimizer: str = "sgd"):  # noqa: ANN202
    """The task, its rule for round 2, and the honest trace's checkpoints and result."""
    task, weights = _task(arch, optimizer)
    rule = trace_rule(task, 2, WORKER)
    traced = train_with_trace(rule, weights, SHARD.x, SHARD.y)
    return task, rule, decode_trace(traced.trace, rule.size), traced


def _encode(checkpoints: np.ndarray) -> bytes:
    return b"".join(WEIGHT_FORMAT.encode(c) for c in checkpoints)


def _verdicts(task, checkpoints: np.ndarray):  # noqa: ANN001, ANN202
    return [verify_trace(task, 2, ADDRESS, SPEC, _encode(checkpoints), seed) for seed in SEEDS]


# --- batch order and schedule -----------------------------------------------------------------


def test_batch_order_is_a_deterministic_permutation_per_task_round_worker_and_epoch() -> None:
    order = compute_batch_order(3, 2, WORKER, 97, 0)
    assert sorted(order.tolist()) == list(range(97)) and order.dtype == np.int64
    assert np.array_equal(order, compute_batch_order(3, 2, WORKER, 97, 0))
    others = [
        compute_batch_order(4, 2, WORKER, 97, 0),
        compute_batch_order(3, 3, WORKER, 97, 0),
        compute_batch_order(3, 2, bytes(20), 97, 0),
        compute_batch_order(3, 2, WORKER, 97, 1),
    ]
    assert all(not np.array_equal(order, other) for other in others)
    assert compute_batch_order(3, 2, WORKER, 1, 0).tolist() == [0]


def test_checkpoint_count_covers_every_step_once() -> None:
    assert compute_checkpoint_count(100, 16, 2, 4) == 5  # 2 x 7 steps in segments of 4 (last of 2)
    assert compute_checkpoint_count(100, 16, 2, 14) == 2  # one segment: start and end
    assert compute_checkpoint_count(10, 16, 1, 1) == 2  # batch shrinks to the shard: one step
    with pytest.raises(TraceError, match="every >= 1 steps"):
        compute_checkpoint_count(10, 16, 1, 0)
    with pytest.raises(TraceError, match="need rows"):
        compute_checkpoint_count(0, 16, 1, 1)


# --- training ----------------------------------------------------------------------------------


def test_trace_starts_at_the_model_ends_at_the_weights_and_determines_the_update() -> None:
    task, rule, checkpoints, traced = _honest()
    steps = 2 * -(-len(SHARD.x) // 16)
    assert len(checkpoints) == -(-steps // 4) + 1 and traced.num_samples == len(SHARD.x)
    assert content_hash(WEIGHT_FORMAT.encode(checkpoints[0])) == task.model_hash
    assert np.array_equal(traced.update, compute_update_between(checkpoints[0], checkpoints[-1]))
    assert np.all(np.abs(np.diff(checkpoints, axis=0)).max(axis=1) > 100)  # every segment trained
    again = train_with_trace(rule, checkpoints[0], SHARD.x, SHARD.y)
    assert again.trace == traced.trace  # the same machine reproduces it bit for bit


@pytest.mark.parametrize(("arch", "optimizer"), [("logreg", "sgd"), ("mlp:32", "sgd"), ("logreg", "adam")])
def test_an_honest_trace_passes_every_segment(arch: str, optimizer: str) -> None:
    task, rule, checkpoints, _ = _honest(arch, optimizer)
    for segment in range(len(checkpoints) - 1):
        assert compute_segment_error(rule, SHARD.x, SHARD.y, checkpoints, segment) == 0
        assert check_segment(rule, SHARD.x, SHARD.y, checkpoints, segment, tolerance=0)
    verdicts = _verdicts(task, checkpoints)
    assert all(v.passed and v.error == 0 for v in verdicts)
    assert {v.segment for v in verdicts} == set(range(len(checkpoints) - 1))


def test_segments_restart_from_the_quantized_checkpoint() -> None:
    _, rule, checkpoints, _ = _honest()
    assert np.array_equal(run_segment(rule, SHARD.x, SHARD.y, checkpoints[2], 2), checkpoints[3])


# --- cheating ----------------------------------------------------------------------------------


def test_a_worker_that_copied_the_start_forward_fails_every_segment() -> None:
    task, rule, checkpoints, _ = _honest()
    lazy = np.repeat(checkpoints[:1], len(checkpoints), axis=0)
    for segment in range(len(lazy) - 1):
        assert not check_segment(rule, SHARD.x, SHARD.y, lazy, segment, tolerance=task.trace.tolerance)
    assert not any(v.passed for v in _verdicts(task, lazy))


def test_a_trace_interpolated_to_a_fake_end_fails_every_segment() -> None:
    task, rule, checkpoints, _ = _honest()
    fake_end = checkpoints[0] + np.random.default_rng(0).integers(-3000, 3000, rule.size)
    fractions = np.linspace(0.0, 1.0, len(checkpoints))[:, None]
    forged = np.rint(checkpoints[0] + fractions * (fake_end - checkpoints[0])).astype(np.int64)
    verdicts = _verdicts(task, forged)
    assert not any(v.passed for v in verdicts) and min(v.error for v in verdicts) > 100
    # Interpolating toward the honest end is caught too: training does not move in a straight line.
    straight = np.rint(checkpoints[0] + fractions * (checkpoints[-1] - checkpoints[0])).astype(np.int64)
    assert not any(v.passed for v in _verdicts(task, straight))


def test_a_tampered_checkpoint_fails_the_segments_that_touch_it() -> None:
    task, rule, checkpoints, _ = _honest()
    tampered = checkpoints.copy()
    tampered[2, 17] += 50
    errors = [compute_segment_error(rule, SHARD.x, SHARD.y, tampered, k) for k in range(len(tampered) - 1)]
    assert errors[0] == 0 and errors[1] == 50 and errors[2] > task.trace.tolerance and errors[3] == 0
    for verdict in _verdicts(task, tampered):
        assert verdict.passed == (verdict.segment not in (1, 2)), verdict


def test_tolerance_is_the_max_difference_in_weight_units() -> None:
    task, rule, checkpoints, _ = _honest()
    nudged = checkpoints.copy()
    nudged[-1, :5] += np.array([3, -3, 2, 0, 1])
    last = len(nudged) - 2
    assert compute_segment_error(rule, SHARD.x, SHARD.y, nudged, last) == 3
    assert check_segment(rule, SHARD.x, SHARD.y, nudged, last, tolerance=3)
    assert not check_segment(rule, SHARD.x, SHARD.y, nudged, last, tolerance=2)


def test_training_on_other_labels_fails_the_check_on_the_public_shard() -> None:
    task, weights = _task()
    rule = trace_rule(task, 2, WORKER)
    flipped = train_with_trace(rule, weights, SHARD.x, 9 - SHARD.y)
    verdicts = [verify_trace(task, 2, ADDRESS, SPEC, flipped.trace, seed) for seed in SEEDS[:6]]
    assert not any(v.passed for v in verdicts)


# --- form ----------------------------------------------------------------------------------------


def test_malformed_traces_fail_before_any_re_execution() -> None:
    task, rule, checkpoints, traced = _honest()
    cases = {
        "checkpoints of": traced.trace[:-1],
        "make 6 checkpoints; the trace has 5": _encode(checkpoints[:-1]),
        "not the round's global model": _encode(np.concatenate([checkpoints[1:2], checkpoints[1:]])),
        "entries must lie within": traced.trace[:-4] + (2**31 - 1).to_bytes(4, "little"),
    }
    for reason, trace in cases.items():
        verdict = verify_trace(task, 2, ADDRESS, SPEC, trace, SEEDS[0])
        assert not verdict.passed and (verdict.segment, verdict.error) == (-1, -1), reason
        assert reason in verdict.reason
    assert "claims 7 samples" in verify_trace(task, 2, ADDRESS, SPEC, traced.trace, SEEDS[0], 7).reason
    assert (
        "does not fit task 3"
        in verify_trace(task, 2, ADDRESS, "wine:shard=1/8", traced.trace, SEEDS[0]).reason
    )
    assert "unknown dataset" in verify_trace(task, 2, ADDRESS, "nope", traced.trace, SEEDS[0]).reason
    # The batch order is the worker's own: another address cannot claim this trace.
    other = encode_address(bytes(20))
    assert not verify_trace(task, 2, other, SPEC, traced.trace, SEEDS[0]).passed


def test_segment_choice_is_seeded_and_in_range() -> None:
    picks = [compute_segment(seed, 3, 2, WORKER, 5) for seed in SEEDS]
    assert picks == [compute_segment(seed, 3, 2, WORKER, 5) for seed in SEEDS]
    assert set(picks) == set(range(5))
    assert compute_segment(SEEDS[0], 3, 2, WORKER, 1) == 0
    with pytest.raises(TraceError):
        compute_segment(SEEDS[0], 3, 2, WORKER, 0)
