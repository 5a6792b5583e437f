"""Task specs: the JSON a task owner writes (``synod tx task post --file task.json``) -> MsgPostTask.

Floats appear only here, off-chain: the learning rate becomes integer millionths, the initial
model is drawn by JAX from ``init_seed`` and quantized to the chain's int32 weight format (a model
whose weights exceed INLINE_WEIGHTS_BYTES is posted with the seed instead, and the chain derives its
integer Glorot-uniform weights: app/core/initializers.py), and the evaluation data is hashed so
workers and plotters can check they use the data the owner named. Every field has a default
(DEFAULT_TASK_SPEC); a file overrides any subset.

A task learns a package dataset (``dataset``) or the owner's own data: ``data.eval`` names a file of
evaluation rows (CSV/TSV/Parquet/.npz/.npy or an image folder, app/ml/sources). Its rows are written
in canonical form as a blob under their hash (app/client/blobs.py) and the task carries the blob's
URI (``data.uri`` + the hash when it is served, else file://) and hash, plus the data's schema
(app/ml/schema.py): feature names, label names, the label column, and with ``data.standardize`` the
per-feature statistics of ``data.stats`` (default: the evaluation rows). Evaluation data is public
to the committee; training data never leaves its workers.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.architectures import param_count
from app.core.coins import Coins, parse_coins
from app.core.errors import SynodError
from app.ml.datasets import DATASETS, DatasetError, load_dataset
from app.ml.evaldata import eval_reference, load_eval_data
from app.ml.models import flatten, init_params
from app.ml.quantize import WEIGHT_SPEC, encode, quantize
from synod.base.v1 import coin_pb2
from synod.tasks.v1 import tasks_pb2, tx_pb2

__all__ = ["DEFAULT_TASK_SPEC", "INLINE_WEIGHTS_BYTES", "TaskSpecError", "build_post_task", "load_task_spec"]

# Initial weights up to this size travel in the post tx (JAX's init); a larger model is posted with
# its seed and initialized on chain, so the post stays well under auth's 1 MiB transaction limit.
INLINE_WEIGHTS_BYTES = 768 << 10

DEFAULT_TASK_SPEC: dict[str, Any] = {
    "description": "digits: logistic regression, FedAvg over non-IID workers",
    "dataset": "digits",
    "split": 0,
    "eval": "test",
    "model": {"arch": "logreg", "init_seed": 0, "input_shape": []},
    "hyper": {"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 32, "local_epochs": 2},
    # Long enough for a person to start workers after posting (about 30 s at 0.5 s a block); with early
    # close the commit and reveal windows cost nothing once every worker is done.
    "schedule": {"rounds": 5, "join_blocks": 60, "commit_blocks": 30, "reveal_blocks": 20, "score_blocks": 0},
    "workers": {"min": 2, "max": 8, "stake": "1000000usyn"},
    "reward": "10000000usyn",
    "aggregation": {"rule": "mean", "params": {}},
    # Public training data only: workers reveal a trace of checkpoints every `every_steps` steps
    # and committees spot-check one segment (0: private data, no trace).
    "trace": {"every_steps": 0, "tolerance": 64},
    # The owner's own data (see the module docstring); eval null: the package dataset above.
    "data": {
        "eval": None,
        "label": None,
        "labels": None,
        "size": None,
        "standardize": False,
        "stats": None,
        "uri": None,
    },
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


@dataclass(frozen=True)
class _Data:
    """What a task's data section holds: the DataRef and the model's input sizes."""

    ref: tasks_pb2.DataRef
    n_features: int
    n_classes: int
    image_shape: tuple[int, ...] = ()  # (height, width, 1) when the evaluation data is an image folder


def _package_data(spec: dict[str, Any]) -> _Data:
    """A package dataset's evaluation part."""
    data = load_dataset(spec["dataset"], seed=int(spec["split"]))
    evaluation = load_eval_data(eval_reference(spec["dataset"], spec["eval"], int(spec["split"])))
    ref = tasks_pb2.DataRef(
        dataset=spec["dataset"], eval_data=evaluation.reference, eval_hash=evaluation.digest
    )
    return _Data(ref, data.n_features, data.n_classes)


def _read(path: str, own: dict[str, Any], labels: tuple[str, ...] | None) -> Any:
    """One of the owner's files, read with the data section's options."""
    from app.ml.datasets import parse_data_spec
    from app.ml.sources import read_source

    size = parse_data_spec(f"{path}:size={own['size']}").size if own["size"] else None
    return read_source(str(path), own["label"], size, labels)


def _own_data(spec: dict[str, Any], blob_dir: Path | None) -> _Data:
    """The owner's evaluation file as a published blob, and the schema it defines."""
    from app.client.blobs import blob_uri, store_blob
    from app.ml.evaldata import encode_eval_rows
    from app.ml.schema import TaskSchema, compute_standardization

    own = spec["data"]
    if blob_dir is None:
        raise TaskSpecError("data.eval: the evaluation rows need a directory to be published from")
    if int(spec["trace"]["every_steps"]):
        raise TaskSpecError("data.eval: trace tasks train on public package datasets, not the owner's files")
    names = own["labels"].split(",") if isinstance(own["labels"], str) else own["labels"]
    given = tuple(str(n) for n in names) if names else None
    table = _read(own["eval"], own, given)
    numbered = table.label_names == tuple(str(i) for i in range(table.n_classes))
    labels = () if numbered and given is None else table.label_names
    x = table.x.reshape(len(table.x), -1)
    mean: tuple[int, ...] = ()
    scale: tuple[int, ...] = ()
    if own["standardize"]:
        stats = _read(own["stats"], own, labels or None).x if own["stats"] else x
        mean, scale = compute_standardization(stats)
    schema = TaskSchema(
        x.shape[1], table.n_classes, table.feature_names or (), labels, own["label"] or "", mean, scale
    )
    path, digest = store_blob(blob_dir, encode_eval_rows(x, table.y))
    name = spec["dataset"] if spec["dataset"] not in DATASETS else Path(own["eval"]).stem[:64] or "data"
    ref = tasks_pb2.DataRef(
        dataset=name, eval_data=blob_uri(path, own["uri"]), eval_hash=digest, schema=schema.to_proto()
    )
    image = (int(table.x.shape[1]), int(table.x.shape[2]), 1) if table.x.ndim == 3 else ()
    return _Data(ref, schema.n_features, schema.n_classes, image)


def build_post_task(owner: str, spec: dict[str, Any], blob_dir: Path | None = None) -> tx_pb2.MsgPostTask:
    """Return the MsgPostTask for spec (already merged over the defaults) signed by owner.

    With the owner's own data (data.eval), its evaluation rows are stored as a blob in blob_dir.
    """
    try:
        data = _own_data(spec, blob_dir) if spec["data"]["eval"] else _package_data(spec)
        model, hyper, sched, workers = spec["model"], spec["hyper"], spec["schedule"], spec["workers"]
        # A layer list may be written as JSON inside the spec file; the chain holds its compact text.
        arch = (
            model["arch"]
            if isinstance(model["arch"], str)
            else json.dumps(model["arch"], separators=(",", ":"))
        )
        shape = [int(d) for d in model["input_shape"]]
        if not shape and arch.startswith("["):  # a layer list on an image folder sees its images' shape
            shape = list(data.image_shape)
        seed = int(model["init_seed"])
        weights, chain_seed = b"", b""
        if 4 * param_count(arch, data.n_features, data.n_classes, shape) > INLINE_WEIGHTS_BYTES:
            chain_seed = seed.to_bytes(8, "big")  # too big for the post tx: the chain derives them
        else:
            params = init_params(arch, data.n_features, data.n_classes, seed, shape)
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
            data=data.ref,
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
            init_seed=chain_seed,
            trace=tasks_pb2.TraceSpec(
                every_steps=int(spec["trace"]["every_steps"]), tolerance=int(spec["trace"]["tolerance"])
            )
            if int(spec["trace"]["every_steps"])
            else None,
        )
    except DatasetError as e:
        raise TaskSpecError(str(e)) from None
    except OSError as e:
        raise TaskSpecError(f"cannot publish the evaluation rows in {blob_dir}: {e.strerror or e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise TaskSpecError(f"invalid task spec: {e}") from None
