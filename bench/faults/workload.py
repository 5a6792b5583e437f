"""The campaign's learning load: an FL task scored by a committee, and an open prediction query.

Posted through the CLI as a user would (`synod tx task post`, `synod tx consensus query`), from
node0's `validator` key, before the committee agents (which sign with the validators' keys) start.
Workers (`synod worker run`), committee members (`synod committee run`, one per validator) and
predictors (`synod predict run`) run as processes, each on its own node, logs in the run
directory. Deadlines are generous (phases close early once everyone is in): a node cut off for a
perturbation must not make its agents miss a phase.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from app.client.consensus import ConsensusClient
from app.client.rpc import CometRPC
from app.client.tasks import TasksClient
from app.node import localnet as net
from app.node.toolchain import find_binary
from synod.consensus.v1 import consensus_pb2
from synod.tasks.v1 import tasks_pb2

__all__ = [
    "Agents",
    "post_task",
    "post_query",
    "task_finished",
    "query_settled",
    "final_model_hashes",
    "settlements",
]

WORKER_STAKE, TASK_REWARD, QUERY_REWARD = 1000, 9_000_000, 1_000_000
QUERY_URI = "synod:digits/test?start=0&count=30&seed=0"


class Agents:
    """Agent processes, each in its own session, stdout/stderr in DIR/NAME.out / .log (the e2e tests'
    Agents add pytest's failures on top)."""

    def __init__(self, root: Path, niceness: int = 10) -> None:
        self.root = root
        # Low priority by default: on a shared machine the nodes come first.
        self.niceness = niceness
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str]) -> None:
        """Launch one agent in its own session, at self.niceness."""
        prefix = ["nice", "-n", str(self.niceness)] if self.niceness else []
        with (self.root / f"{name}.log").open("ab") as log, (self.root / f"{name}.out").open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [*prefix, *argv], stdout=out, stderr=log, start_new_session=True
            )

    def failed(self) -> dict[str, str]:
        """{name: end of its log} of the agents that exited with an error."""
        return {
            name: (self.root / f"{name}.log").read_text(errors="replace")[-1500:]
            for name, p in self.procs.items()
            if p.poll() not in (None, 0)
        }

    def stop_all(self) -> None:
        """SIGKILL whichever agents still run (each one's own process group)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _cli(spec: net.LocalnetSpec, *args: str) -> dict:
    """`synod tx ... --yes -o json` from node0's home; the parsed answer."""
    home = str(net.node_home(spec.directory, 0).root)
    argv = [find_binary("synod"), "tx", *args, "--from", "validator", "--home", home, "--yes", "-o", "json"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"synod tx {' '.join(args[:2])} failed: {proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout)


def post_task(spec: net.LocalnetSpec, rounds: int, workers: int) -> int:
    """A digits logistic-regression task, committee-scored; returns its id."""
    flags = {
        "--dataset": "digits", "--arch": "logreg", "--rounds": rounds, "--join-blocks": 150,
        "--commit-blocks": 120, "--reveal-blocks": 120, "--score-blocks": 120, "--min-workers": 2,
        "--max-workers": workers, "--stake": f"{WORKER_STAKE}usyn", "--reward": f"{TASK_REWARD}usyn",
        "--rule": "mean",
    }  # fmt: skip
    args = [str(part) for pair in flags.items() for part in pair]
    return int(_cli(spec, "task", "post", *args)["task_id"])


def post_query(spec: net.LocalnetSpec, predictors: int) -> int:
    """An open prediction query with one revision round; returns its id."""
    flags = {
        "--inputs-uri": QUERY_URI, "--labels": 10, "--rounds": 1, "--peer-sample": 2,
        "--min-stake": "10000usyn", "--reward": f"{QUERY_REWARD}usyn", "--commit-blocks": 300,
        "--reveal-blocks": 120, "--label-blocks": 120, "--max-participants": predictors,
    }  # fmt: skip
    args = [str(part) for pair in flags.items() for part in pair]
    return int(_cli(spec, "consensus", "query", *args)["query_id"])


def start_agents(
    agents: Agents,
    spec: net.LocalnetSpec,
    keys_home: Path,
    task_id: int,
    query_id: int,
    workers: int,
    predictors: int,
) -> None:
    """Workers w0.., one committee member per validator, predictors p0.. (keys in keys_home)."""
    synod, n = find_binary("synod"), spec.validators
    for i in range(workers):
        agents.start(f"w{i}", [
            synod, "worker", "run", "--task", str(task_id), "--key", f"w{i}", "--home", str(keys_home),
            "--data", f"digits:shard={i}/{workers}:seed=7", "--node", net.rpc_address(spec, i % n),
            "--no-verify", "--quiet", "-o", "json",
        ])  # fmt: skip
    for v in range(n):
        home = str(net.node_home(spec.directory, v).root)
        agents.start(f"member{v}", [
            synod, "committee", "run", "--key", "validator", "--home", home,
            "--node", net.rpc_address(spec, v), "--quiet", "-o", "json",
        ])  # fmt: skip
    for i in range(predictors):
        agents.start(f"p{i}", [
            synod, "predict", "run", "--key", f"p{i}", "--query", str(query_id), "--home", str(keys_home),
            "--model", "logreg", "--data", f"digits:shard={i}/{predictors}:seed=5",
            "--node", net.rpc_address(spec, (i + 1) % n), "--quiet", "-o", "json",
        ])  # fmt: skip


def task_finished(rpc: CometRPC, task_id: int) -> bool:
    """True once the task has finished all its rounds."""
    return TasksClient(rpc).task(task_id).task.status == tasks_pb2.TASK_STATUS_FINISHED


def query_settled(rpc: CometRPC, query_id: int) -> bool:
    """True once the query has an answer."""
    status = ConsensusClient(rpc).query(query_id).query.status
    return status in (consensus_pb2.QUERY_STATUS_SETTLED, consensus_pb2.QUERY_STATUS_CLOSED)


def final_model_hashes(rpcs: list[CometRPC], task_id: int) -> list[str]:
    """Each node's model hash of the task's last round (hex)."""
    return [TasksClient(rpc).rounds(task_id)[-1].model_hash.hex() for rpc in rpcs]


def settlements(rpcs: list[CometRPC], query_id: int) -> list[str]:
    """Each node's settled answer, serialized (hex) so they compare byte for byte."""
    return [ConsensusClient(rpc).answer(query_id).SerializeToString(deterministic=True).hex() for rpc in rpcs]
