"""run_worker: `synod worker run` from a script or notebook, with the trainer given as an object.

    from app.agents.worker import run_worker
    summary = run_worker("http://127.0.0.1:26657", "w0", task_id=1, home="~/.synod", trainer=fit)

It returns the WorkerSummary. It raises TrainerLoadError for a trainer it cannot use, and
WorkerError (or an RpcError, a KeyringError) with a message when the worker cannot go on, as the
command does.
"""

from __future__ import annotations

from pathlib import Path

from app.agents.progress import Reporter, make_reporter
from app.agents.usercode import load_trainer, resolve_trainer
from app.agents.worker.agent import Worker, WorkerConfig, WorkerError
from app.agents.worker.state import default_state_dir
from app.agents.worker.summary import WorkerSummary
from app.client.follow import follow_node
from app.client.keyring import Keyring
from app.client.querier import Querier
from app.client.rpc import CometRPC
from app.core.crypto import PrivateKey

__all__ = ["run_worker"]


def run_worker(
    node: str | CometRPC,
    key: str | PrivateKey,
    task_id: int,
    *,
    home: str | Path | None = None,
    data: str = "",
    trainer: object = None,
    state_dir: str | Path | None = None,
    poll_interval: float = 0.3,
    reporter: Reporter | None = None,
    querier: Querier | None = None,
) -> WorkerSummary:
    """Work on task_id through node until the task ends, as key; return the summary.

    key is a key name or address in home's keyring, or a PrivateKey. data is a data spec
    (app/ml/datasets.py); trainer is a fit function, a flwr NumPyClient (instance, subclass or
    zero-argument factory) or a `pkg.module:attr` string; at least one of the two is needed. Saved
    updates go to state_dir (default HOME/worker/task-ID-ADDRESS), so calling it again resumes.
    It follows the node's blocks by subscription, polling every poll_interval s while that is down.
    """
    if isinstance(task_id, bool) or not isinstance(task_id, int) or task_id < 1:
        raise WorkerError(f"task_id must be a positive int, got {task_id!r}")
    if not poll_interval > 0:
        raise WorkerError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
    if not isinstance(data, str):
        raise WorkerError(f"data must be a data spec string, got a {type(data).__name__}")
    if isinstance(key, str):
        if home is None:
            raise WorkerError(f"key {key!r} is a name: give the home whose keyring holds it")
        key = Keyring(str(Path(home).expanduser())).private_key(key)
    if state_dir is None:
        if home is None:
            raise WorkerError("give home or state_dir: each round's update is saved before it is committed")
        state_dir = default_state_dir(home, task_id, key.address)
    user = None
    if trainer is not None:
        user = load_trainer(trainer) if isinstance(trainer, str) else resolve_trainer(trainer)
    rpc = node if isinstance(node, CometRPC) else CometRPC(node)
    config = WorkerConfig(task_id, data, Path(state_dir), poll_interval=poll_interval, trainer=user)
    reporter = reporter or make_reporter(True, prefix=f"worker {key.address[:14]}")
    try:
        with follow_node(rpc.url, poll_interval, reporter) as follower:
            return Worker(rpc, key, config, reporter, querier=querier, follower=follower).run()
    finally:
        reporter.close()
