"""Task specs: the JSON a task owner writes (``synod tx task post --file task.json``) -> MsgPostTask.

Floats appear only here, off-chain: the learning rate becomes integer millionths, the initial
model is drawn by JAX from ``init_seed`` and quantized to the chain's int32 weight format, and the
evaluation data is hashed so workers and plotters can check they use the data the owner named.
Every field has a default (DEFAULT_TASK_SPEC); a file overrides any subset.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from app.core.coins import Coins, parse_coins
from app.core.errors import SynodError
from app.ml.datasets import load_dataset
from app.ml.evaldata import eval_reference, load_eval_data
from app.ml.models import flatten, init_params
from app.ml.quantize import WEIGHT_SPEC, encode, quantize
from synod.base.v1 import coin_pb2
from synod.tasks.v1 import tasks_pb2, tx_pb2

__all__ = ["DEFAULT_TASK_SPEC", "TaskSpecError", "build_post_task", "load_task_spec"]

DEFAULT_TASK_SPEC: dict[str, Any] = {
    "description": "digits: logistic regression, FedAvg over non-IID workers",
    "dataset": "digits",
    "split": 0,
    "eval": "test",
    "model": {"arch": "logreg", "init_seed": 0, "input_shape": []},
    "hyper": {"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 32, "local_epochs": 2},
    "schedule": {"rounds": 5, "join_blocks": 8, "commit_blocks": 6, "reveal_blocks": 4, "score_blocks": 0},
    "workers": {"min": 2, "max": 8, "stake": "1000000usyn"},
    "reward": "10000000usyn",
    "aggregation": {"rule": "mean", "params": {}},
    # Public training data only: workers reveal a trace of checkpoints every `every_steps` steps
    # and committees spot-check one segment (0: private data, no trace).
    "trace": {"every_steps": 0, "tolerance": 64},
}


class TaskSpecError(ValueError):
    """The task spec is malformed; the message names the field."""


def _merge(base: dict[str, Any], override: dict[str, Any], path: str = "") -> dict[str, Any]:
    """Return base with override's keys applied recursively; unknown keys are an error."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key not in base:
            raise TaskSpecError(f"unknown task spec field {path + key!r}; known: {', '.join(sorted(base))}")
        if isinstance(base[key], dict) and key != "params":
            if not isinstance(value, dict):
                raise TaskSpecError(f"task spec field {path + key!r} must be an object")
            merged[key] = _merge(base[key], value, f"{path}{key}.")
        else:
            merged[key] = value
    return merged


def load_task_spec(source: str | Path | dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the defaults overridden by a JSON file path or a dict (None: the defaults)."""
    if source is None:
        return copy.deepcopy(DEFAULT_TASK_SPEC)
    if not isinstance(source, dict):
        try:
            source = json.loads(Path(source).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise TaskSpecError(f"cannot read task spec {source}: {e}") from None
        if not isinstance(source, dict):
            raise TaskSpecError("a task spec must be a JSON object")
    return _merge(DEFAULT_TASK_SPEC, source)


def _coin(text: str, field: str) -> coin_pb2.Coin:
    """One coin from text like 1000usyn."""
    try:
        coins: Coins = parse_coins(text)
    except SynodError as e:
        raise TaskSpecError(f"{field}: {e}") from None
    if len(coins) != 1:
        raise TaskSpecError(f"{field} must be exactly one coin, like 1000000usyn")
    ((denom, amount),) = coins
    return coin_pb2.Coin(denom=denom, amount=str(amount))


def build_post_task(owner: str, spec: dict[str, Any]) -> tx_pb2.MsgPostTask:
    """Return the MsgPostTask for spec (already merged over the defaults) signed by owner."""
    try:
        data = load_dataset(spec["dataset"], seed=int(spec["split"]))
        evaluation = load_eval_data(eval_reference(spec["dataset"], spec["eval"], int(spec["split"])))
        model, hyper, sched, workers = spec["model"], spec["hyper"], spec["schedule"], spec["workers"]
        # A layer list may be written as JSON inside the spec file; the chain holds its compact text.
        arch = (
            model["arch"]
            if isinstance(model["arch"], str)
            else json.dumps(model["arch"], separators=(",", ":"))
        )
        shape = [int(d) for d in model["input_shape"]]
        params = init_params(arch, data.n_features, data.n_classes, int(model["init_seed"]), shape)
        weights = encode(quantize(flatten(params), WEIGHT_SPEC), WEIGHT_SPEC)
        return tx_pb2.MsgPostTask(
            owner=owner,
            description=str(spec["description"]),
            model=tasks_pb2.ModelSpec(
                arch=arch, n_features=data.n_features, n_classes=data.n_classes, input_shape=shape
            ),
            hyper=tasks_pb2.Hyperparams(
                optimizer=hyper["optimizer"],
                learning_rate_ppm=round(float(hyper["learning_rate"]) * 1_000_000),
                batch_size=int(hyper["batch_size"]),
                local_epochs=int(hyper["local_epochs"]),
            ),
            data=tasks_pb2.DataRef(
                dataset=spec["dataset"], eval_data=evaluation.reference, eval_hash=evaluation.digest
            ),
            schedule=tasks_pb2.Schedule(**{k: int(v) for k, v in sched.items()}),
            min_workers=int(workers["min"]),
            max_workers=int(workers["max"]),
            worker_stake=_coin(workers["stake"], "workers.stake"),
            reward=_coin(spec["reward"], "reward"),
            aggregation=tasks_pb2.Aggregation(
                rule=spec["aggregation"]["rule"],
                params=[
                    tasks_pb2.AggregationParam(name=k, value=int(v))
                    for k, v in sorted(spec["aggregation"]["params"].items())
                ],
            ),
            initial_weights=weights,
            trace=tasks_pb2.TraceSpec(
                every_steps=int(spec["trace"]["every_steps"]), tolerance=int(spec["trace"]["tolerance"])
            )
            if int(spec["trace"]["every_steps"])
            else None,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise TaskSpecError(f"invalid task spec: {e}") from None
