"""The Flower arm, run inside bench/fl/flower_venv by bench/fl/flower.py; not importable from .venv.

flower.py starts it as ``run(result_path)`` with the config in $SYNOD_FL_CONFIG and the repository on
PYTHONPATH, so Ray's actor processes import this module by name and inherit both.

Flower's simulation runtime (Ray backend) runs one ClientApp per worker with the same shard, the same
start weights and the same per-round training config as the in-process arm, trained by the repo's
app.ml.train; the ServerApp runs Flower's own FedAvg (float, weighted by sample counts) and evaluates
the global model on the test rows after every round. Progress goes to stdout as PROGRESS lines.
"""

from __future__ import annotations

import functools
import json
import os
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation

from app.ml.federated import compute_round_config
from app.ml.quantize import WEIGHT_SPEC, dequantize
from app.ml.train import evaluate, train_local
from bench.fl.config import PROGRESS, FLConfig, FLData

_STARTED = time.perf_counter()
# Set before Ray starts, so every actor process inherits it.
CONFIG = FLConfig.from_json(os.environ.get("SYNOD_FL_CONFIG", "{}"))
_RESULT: dict[str, Any] = {"accuracy_per_round": [], "round_seconds": []}

client = ClientApp()
server = ServerApp()


@functools.cache
def _data() -> FLData:
    """Return the shared data, loaded once per process (server or Ray actor)."""
    return FLData(CONFIG)


@client.train()
def train(msg: Message, context: Context) -> Message:
    """Train the worker named by the node's partition id from the global weights in msg."""
    worker = int(context.node_config["partition-id"])
    round_index = int(msg.content["config"]["server-round"]) - 1
    start = msg.content["arrays"].to_numpy_ndarrays()[0]
    shard = _data().shards[worker]
    config = compute_round_config(CONFIG.train_config(), round_index, worker)
    trained, count = train_local(CONFIG.arch, start, shard.x, shard.y, config, CONFIG.input_shape)
    content = RecordDict({"arrays": ArrayRecord([trained]), "metrics": MetricRecord({"num-examples": count})})
    return Message(content=content, reply_to=msg)


def _evaluate_global(server_round: int, arrays: ArrayRecord) -> MetricRecord:
    """Evaluate the global model on the test rows and record the round's wall time."""
    now = time.perf_counter()
    data = _data().dataset
    weights = arrays.to_numpy_ndarrays()[0]
    accuracy, loss = evaluate(CONFIG.arch, weights, data.x_test, data.y_test, CONFIG.input_shape)
    if server_round == 0:
        _RESULT["startup_seconds"] = now - _STARTED
    else:
        _RESULT["accuracy_per_round"].append(100 * accuracy)
        _RESULT["round_seconds"].append(now - _RESULT["round_started"])
        print(f"{PROGRESS}{server_round} {100 * accuracy:.2f}", flush=True)
    # Evaluation is not part of a round's time, as in the in-process arm.
    _RESULT["round_started"] = time.perf_counter()
    return MetricRecord({"accuracy": accuracy, "loss": loss})


@server.main()
def main(grid: Grid, context: Context) -> None:
    """Run FedAvg over every worker for CONFIG.rounds rounds, with no federated evaluation."""
    workers = CONFIG.workers
    strategy = FedAvg(
        fraction_train=1.0,
        fraction_evaluate=0.0,
        min_train_nodes=workers,
        min_available_nodes=workers,
        weighted_by_key="num-examples",
    )
    start = dequantize(_data().initial_weights_q, WEIGHT_SPEC)
    strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord([np.asarray(start)]),
        num_rounds=CONFIG.rounds,
        evaluate_fn=_evaluate_global,
    )


def run(out: Path) -> None:
    """Run the simulation and write the result JSON to out."""
    cpus = os.cpu_count() or 1
    run_simulation(
        server_app=server,
        client_app=client,
        num_supernodes=CONFIG.workers,
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": cpus},
        },
    )
    _RESULT.pop("round_started", None)
    _RESULT["versions"] = {name: version(name) for name in ("flwr", "ray", "jax", "optax", "numpy")}
    out.write_text(json.dumps(_RESULT))
