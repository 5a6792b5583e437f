"""A task with a JSON conv architecture through the ABCI handlers: sized by its layout, pinned, refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.core.architectures import MAX_LAYERS, param_count
from app.core.fixedpoint import WEIGHT_FORMAT
from app.modules.tasks import logic
from synod.tasks.v1 import tasks_pb2
from tests.integration.tasks_harness import TaskChain

FUNDS = {"alice": 10**9, "bob": 10**9, "carol": 10**9}
CONV = json.dumps(
    [
        {"type": "conv2d", "features": 2, "kernel": [3, 3]},
        {"type": "relu"},
        {"type": "max_pool", "window": [2, 2]},
        {"type": "layer_norm"},
        {"type": "flatten"},
        {"type": "dense"},
    ],
    separators=(",", ":"),
)
SHAPE = (4, 4, 1)
SIZE = param_count(CONV, 16, 3, SHAPE)  # 3*3*1*2 + 2, layer_norm 2 + 2, then (2*2*2 + 1) * 3


def _model(arch: str = CONV, n_features: int = 16, shape: tuple[int, ...] = SHAPE) -> tasks_pb2.ModelSpec:
    """A ModelSpec with an input shape."""
    return tasks_pb2.ModelSpec(arch=arch, n_features=n_features, n_classes=3, input_shape=list(shape))


def _weights(size: int = SIZE) -> bytes:
    """Deterministic int32 starting weights within +-1.0."""
    return WEIGHT_FORMAT.encode(np.random.default_rng(7).integers(-(1 << 16), 1 << 16, size, dtype=np.int64))


@pytest.fixture
def tc() -> TaskChain:
    tc = TaskChain()
    tc.chain.init(FUNDS)
    return tc


def _conv_round(tc: TaskChain) -> bytes:
    """Post the conv task, two workers join, commit and reveal round 1; return the app hash after it."""
    resp = tc.run(tc.post(model=_model(), initial_weights=_weights()))
    assert resp.tx_results[0].code == 0, resp.tx_results[0].log
    resp = tc.run(tc.join("bob"), tc.join("carol"))
    assert [r.code for r in resp.tx_results] == [0, 0]
    tc.advance_to_phase(logic.COMMIT, 1)
    rng = np.random.default_rng(11)
    vectors = {w: rng.integers(-(1 << 11), 1 << 11, SIZE, dtype=np.int64) for w in ("bob", "carol")}
    resp = tc.run(*[tc.commit(w, 1, v) for w, v in vectors.items()])
    assert [r.code for r in resp.tx_results] == [0, 0]
    tc.advance_to_phase(logic.REVEAL, 1)
    resp = tc.run(*[tc.reveal(w, 1) for w in vectors])
    assert [r.code for r in resp.tx_results] == [0, 0], [r.log for r in resp.tx_results]
    tc.advance_past_round(1)
    assert tc.app.tasks.get_round(tc.app.store.view, 1, 1).outcome == tasks_pb2.ROUND_OUTCOME_AGGREGATED
    return tc.app.store.app_hash


# Pinned: a change means the layout, the ModelSpec encoding or the tasks state machine changed.
GOLDEN_CONV_APP_HASH = "cb70c1b2fb23b5ef35404d947630335543a8675297ee05b7a93059029339b03c"


def test_a_conv_task_is_sized_by_its_layout_aggregates_and_matches_the_golden_hash(tc: TaskChain) -> None:
    assert SIZE == 20 + 4 + 27
    other = TaskChain()
    other.chain.init(FUNDS)
    assert _conv_round(tc) == _conv_round(other)
    assert tuple(tc.task().model.input_shape) == SHAPE
    assert tc.app.store.app_hash.hex() == GOLDEN_CONV_APP_HASH


@pytest.mark.parametrize(
    ("model", "code", "reason"),
    [
        (_model(shape=(4, 5, 1)), 16, "input_shape [4, 5, 1] has 20 values, n_features is 16"),
        (_model(shape=(2, 2, 2, 2)), 16, "input_shape [2, 2, 2, 2] needs 1 to 3 sizes"),
        (_model(shape=(16, 1, 1, 1)), 16, "needs 1 to 3 sizes"),
        (_model(shape=()), 2, "layer 0 type: conv2d with a 2-D window needs (H, W, C), got (16,)"),
        (_model(arch=CONV.replace('"features":2', '"features":2.5')), 2, "sizes must be integers"),
        (_model(arch=CONV.replace('"relu"', '"swish"')), 2, "layer 1 type: unknown layer type 'swish'"),
        (_model(arch=CONV.replace('"window"', '"size"')), 2, "layer 2 size: unknown key for max_pool"),
        (
            _model(arch=json.dumps([{"type": "relu"}] * MAX_LAYERS + [{"type": "dense"}])),
            2,
            "layers, the limit is",
        ),
        (_model(arch="[" + " " * 5000 + "]"), 2, "characters, the limit is 4096"),
        (
            _model(arch=CONV.replace('"kernel":[3,3]', '"kernel":[5,5],"padding":"VALID"')),
            2,
            "layer 0 window: (5, 5) is larger than the input (4, 4)",
        ),
    ],
)
def test_bad_conv_specs_are_refused_with_their_code(
    tc: TaskChain, model: tasks_pb2.ModelSpec, code: int, reason: str
) -> None:
    resp = tc.run(tc.post(model=model, initial_weights=_weights()))
    result = resp.tx_results[0]
    assert (result.codespace, result.code) == ("tasks", code), result.log
    assert reason in result.log, result.log
    assert tc.app.tasks.get_task(tc.app.store.view, 1) is None


def test_initial_weights_of_the_old_size_are_refused(tc: TaskChain) -> None:
    resp = tc.run(tc.post(model=_model(), initial_weights=_weights(SIZE - 3)))
    assert (resp.tx_results[0].code, "initial_weights" in resp.tx_results[0].log) == (2, True)
