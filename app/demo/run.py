"""`synod demo`: federated learning on a fresh 4-validator localnet, from nothing to a plotted model.

Steps: start the localnet and the explorer page for node0 (its URL printed first); create one key
per worker (each in its own home) and per predictor, and fund them from node0's genesis account;
post the default task (digits, logreg) with phases sized in blocks from the measured block time and
a score phase in which every validator's `synod committee run` scores every update; start
`synod worker run` per key on a Dirichlet label-skewed shard (the last one attacking, the first
`trainer_workers` with the user's own `--trainer` code), spread over the validators' RPCs; post a
prediction query with committed labels and start its predictors; follow the rounds and the query
live, evaluating each checkpoint on the task's test data, revealing the labels once the query
settles; then compare the final model with a centrally trained reference, ask every validator for
the final model hash, show the committee's verdicts (the attacker excluded and slashed) and the
query's payments, download the final model with `--verify`, and write the plot. `StoryParts`
switches each part off (`--plain`: FedAvg alone). Agents and nodes are stopped on the way out,
whatever happened (Ctrl-C, SIGTERM or an error), unless `keep` leaves the network running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.live import Live

from app.agents.evaluation import task_eval_data
from app.client.keyring import KeyInfo
from app.client.rpc import CometRPC, RpcError
from app.client.sender import TxSender
from app.client.tasks import TasksClient
from app.client.verified.trust import init_trust, light_dir
from app.core.architectures import describe_arch, model_param_count
from app.core.coins import parse_coins
from app.demo import chain, story
from app.demo.chain import DemoError
from app.demo.guard import StallCheck, interrupt_on_signals
from app.demo.owndata import OwnData, prepare_own_data
from app.demo.plan import DemoOptions, compute_schedule, prepare_directory, shard_summary, task_spec
from app.demo.results import DemoResult, report_results
from app.demo.story import QueryRun, StoryParts, StoryResult
from app.demo.view import TaskWatcher, WorkerInfo, render
from app.demo.workers import (
    AgentProcess,
    WorkerProcess,
    log_tail,
    start_worker,
    stop_workers,
    worker_data_spec,
)
from app.ml.schema import TaskSchema
from app.node import localnet as net
from app.node import services

__all__ = ["DemoError", "DemoOptions", "DemoResult", "StoryParts", "compute_schedule", "run_demo"]

_WORKER_FUNDS = "100000000usyn"  # the stake (1000000usyn) plus every round's commit and reveal fees
_POLL_SECONDS = 0.5
_WORKER_EXIT_SECONDS = 30.0
_QUERY_CLOSE_SECONDS = 120.0  # after the task ends, how long the query may take to close


@dataclass
class _Demo:
    """One run: what it started, so the clean-up knows what to stop."""

    options: DemoOptions
    console: Console
    root: Path
    spec: net.LocalnetSpec | None = None
    keys: list[KeyInfo] = field(default_factory=list)
    workers: list[WorkerProcess] = field(default_factory=list)
    agents: list[AgentProcess] = field(default_factory=list)  # committee members and predictors
    started: float = field(default_factory=time.monotonic)
    own: OwnData | None = None
    query: QueryRun | None = None
    predictor_addresses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # lines the live view shows above its tables

    @property
    def parts(self) -> StoryParts:
        """What runs beside FedAvg."""
        return self.options.parts

    def step(self, text: str) -> None:
        """Announce a step."""
        self.console.print(f"\n[bold]== {text}[/]  [dim]({time.monotonic() - self.started:.0f}s)[/]")

    def run(self) -> DemoResult:
        """Every step, then the results; the finally clause stops what was started."""
        try:
            self._read_own_data()
            block_seconds = self._start_network()
            if self.parts.explorer:
                self._start_explorer()
            sender = chain.validator_sender(self._spec, 0)
            task_id = self._fund_and_post(sender, block_seconds)
            if self.parts.committee:
                self._start_members()
            infos = self._start_workers(task_id)
            if self.parts.query:
                self._start_query(sender, block_seconds)
            watcher = self._follow(task_id, infos, sender)
            train = str(self.own.train) if self.own else None
            result = report_results(
                self.console, watcher, self._spec, self._plot_path(), self._title(watcher), train
            )
            return dataclasses.replace(result, story=self._report_story(watcher))
        finally:
            self._shutdown()

    @property
    def _spec(self) -> net.LocalnetSpec:
        """The running network's spec."""
        assert self.spec is not None, "the localnet has not been started"
        return self.spec

    def _read_own_data(self) -> None:
        """Split --data into evaluation rows and the workers' pool, before any node starts."""
        if self.options.data is None:
            return
        self.step(f"reading your data: {self.options.data}")
        own = prepare_own_data(
            self.options.data, self.options.label, self.root / "data", self.options.seed, self.options.workers
        )
        kind = "rows" if own.image_size is None else f"{own.image_size[1]}x{own.image_size[0]} images"
        self.console.print(
            f"{own.rows} {kind} of {own.features} features, classes {', '.join(own.label_names)}: "
            f"{own.held_out} held out as the task's public evaluation data "
            f"({own.eval}), the rest shared among the workers ({own.train})"
        )
        self.own = own

    def _start_network(self) -> float:
        """Start the localnet and return its measured seconds per block."""
        self.step(f"{self.options.validators}-validator localnet in {self.root / 'localnet'}")
        self.spec = chain.start_localnet(
            self.root / "localnet", self.options.validators, self.options.base_ip
        )
        block_seconds = chain.measure_block_seconds(CometRPC(chain.rpc_url(self.spec, 0)))
        last = net.node_ip(self.spec.base_ip, self.spec.validators - 1)
        where = f"nodes on {self.spec.base_ip} .. {last} (rpc :{net.RPC_PORT})"
        self.console.print(f"{where}, a block every {block_seconds:.2f}s")
        return block_seconds

    def _start_explorer(self) -> None:
        """Start node0's explorer page (its own process, as `synod localnet up` does), reading through
        a light client in node0's home that trusts the first block; print its URL."""
        home = net.node_home(self._spec.directory, 0).root
        init_trust(light_dir(home), CometRPC(chain.rpc_url(self._spec, 0)), self._spec.chain_id)
        url = services.start_explorer(self._spec.directory)
        if url is None:
            log = services.explorer_log(self._spec.directory)
            self.console.print(f"[yellow]the explorer did not start: see {log}[/]")
            return
        self.notes.append(f"explorer {url}")
        self.console.print(f"[bold]explorer on {url}[/] (open it in a browser: the rounds fill in live)")

    def _start_members(self) -> None:
        """Every validator scores every update: one `synod committee run` each."""
        self.step(f"starting {self._spec.validators} committee members, one per validator")
        self.agents += story.start_members(self._spec, self.root / "logs")
        self.console.print(
            f"each scores every update of a round on the task's test data (logs in {self.root / 'logs'})"
        )

    def _start_query(self, sender: TxSender, block_seconds: float) -> None:
        """Post the prediction query (labels committed) and start its predictors."""
        self.step("consensus learning: a prediction query, answered by models that stay with their owners")
        self.query = story.post_query(sender, block_seconds, len(story.PREDICTOR_MODELS))
        self.query.addresses = self.predictor_addresses
        story.start_predictors(self.query, self._spec, self.root / "predictors", self.root / "logs")
        models = ", ".join(story.PREDICTOR_MODELS)
        self.console.print(
            f"query {self.query.query_id}: {story.QUERY_URI} ({story.QUERY_CLASSES} classes), labels "
            f"committed at posting; {len(story.PREDICTOR_MODELS)} predictors ({models}) each train on "
            "their own shard, commit, reveal and revise against the tally"
        )

    def _fund_and_post(self, sender: TxSender, block_seconds: float) -> int:
        """Create and fund the worker (and predictor) keys, then post the task; return its id."""
        count = self.options.workers
        self.step(f"{count} worker keys, funded by node0's genesis account")
        homes = [self.root / "workers" / f"worker{i}" for i in range(count)]
        self.keys = chain.create_worker_keys(homes)
        if self.parts.query:
            self.predictor_addresses = story.create_predictor_keys(self.root / "predictors")
        funded = [k.address for k in self.keys] + self.predictor_addresses
        height = chain.fund(sender, funded, parse_coins(_WORKER_FUNDS))
        self.console.print(
            f"sent {_WORKER_FUNDS} to each in block {height}; keyrings under {homes[0].parent}"
        )
        spec = task_spec(self.options, block_seconds, self.own)
        s = spec["schedule"]
        self.step(f"posting the task: {spec['description']}")
        task_id = chain.post_task(sender, spec, self.root / "blobs")
        self.console.print(
            f"task {task_id}: {s['rounds']} rounds of commit {s['commit_blocks']} + reveal "
            f"{s['reveal_blocks']} blocks at most (a phase closes once every worker is done) after a "
            f"{s['join_blocks']}-block join phase, "
            f"reward {spec['reward']}, stake {spec['workers']['stake']} per worker"
        )
        m, h = TasksClient(sender.rpc).task(task_id).task.model, spec["hyper"]
        inputs = "x".join(str(d) for d in m.input_shape) or str(m.n_features)
        self.console.print(
            f"model {describe_arch(m.arch)}: {model_param_count(m):,} parameters on {inputs} inputs, "
            f"{m.n_classes} classes; {h['optimizer']} at {h['learning_rate']}, "
            f"{h['local_epochs']} epochs a round"
        )
        return task_id

    def _start_workers(self, task_id: int) -> list[WorkerInfo]:
        """Launch one worker per key, worker i through validator i mod N."""
        count = self.options.workers
        self.step(f"starting {count} workers (logs in {self.root / 'logs'})")
        infos = []
        schema = TaskSchema.from_task(TasksClient(CometRPC(chain.rpc_url(self._spec, 0))).task(task_id).task)
        pool = str(self.own.train) if self.own else "digits"
        trainer, with_trainer = self.options.trainer, self.options.trainer_workers
        for i, key in enumerate(self.keys):
            spec = worker_data_spec(pool, i, count, self.options.alpha, self.options.seed)
            url = chain.rpc_url(self._spec, i % self._spec.validators)
            home, log = self.root / "workers" / f"worker{i}", self.root / "logs" / f"worker{i}.log"
            user_code = trainer if trainer and (with_trainer is None or i < with_trainer) else ""
            attack = self.parts.attack if i == count - 1 else ""
            process = start_worker(i, key.address, home, task_id, url, spec, log, user_code, attack)
            self.workers.append(process)
            summary = shard_summary(spec, schema)
            infos.append(WorkerInfo(process, f"{summary} ({user_code})" if user_code else summary))
        if self.parts.attack:
            self.console.print(f"worker {count - 1} attacks: --attack {self.parts.attack} (app/ml/attacks)")
        return infos

    def _follow(self, task_id: int, infos: list[WorkerInfo], sender: TxSender) -> TaskWatcher:
        """Show the rounds (and the query) live until the task ends, the workers exit and the query
        closes; fail if any gives up."""
        self.step("federated learning on chain (Ctrl-C stops everything)")
        rpc = CometRPC(chain.rpc_url(self._spec, 0))
        watcher = TaskWatcher(rpc, task_id, task_eval_data(TasksClient(rpc).task(task_id).task))
        stall = StallCheck()
        ended_at: float | None = None
        try:
            with Live(console=self.console, refresh_per_second=4, transient=False) as live:
                while True:
                    stall.poll(watcher)
                    if watcher.ended:
                        ended_at = ended_at or time.monotonic()
                    else:
                        self._check_workers(watcher)
                    query_done = self._poll_query(sender, ended_at)
                    done = ended_at is not None and self._workers_done(ended_at) and query_done
                    lines = self.notes + ([self.query.describe()] if self.query else [])
                    live.update(render(watcher, infos, time.monotonic() - self.started, lines))
                    if done:
                        break
                    time.sleep(_POLL_SECONDS)
        finally:
            self.console.print()  # the live view leaves the cursor at its last line's end
        if watcher.response.phase != "finished":
            raise DemoError(f"task {task_id} {watcher.response.phase}{self._worker_logs()}")
        for worker in self.workers:
            if worker.exit_code != 0:
                self.console.print(f"[yellow]worker {worker.index} ended badly: see {worker.log}[/]")
        return watcher

    def _poll_query(self, sender: TxSender, ended_at: float | None) -> bool:
        """Follow the query (revealing its labels once it settles); True once it is closed, or when
        there is none. DemoError if it is still open _QUERY_CLOSE_SECONDS after the task ended."""
        if self.query is None:
            return True
        with contextlib.suppress(RpcError):  # the stall check sees a node that stays down
            self.query.poll(sender)
        if self.query.closed:
            return True
        if ended_at is not None and time.monotonic() - ended_at > _QUERY_CLOSE_SECONDS:
            logs = "".join(f"\n--- {a.log}:\n{log_tail(a.log)}" for a in self.query.predictors)
            raise DemoError(
                f"{self.query.describe()}, {_QUERY_CLOSE_SECONDS:.0f}s after the task ended{logs}"
            )
        return False

    def _report_story(self, watcher: TaskWatcher) -> StoryResult:
        """The committee's verdicts, the query's payments, and the final model downloaded with --verify."""
        result = StoryResult()
        if self.parts.committee:
            participants = watcher.client.participants(watcher.task_id)
            records = watcher.client.rounds(watcher.task_id)
            result = story.report_committee(self.console, self.workers, participants, records)
        if self.query is not None:
            result = story.report_query(self.console, self.query, result)
        if self.parts.verify:
            home = net.node_home(self._spec.directory, 1).root
            out = self.root / "final-model.npz"
            self.console.print("the final model, proven against a header node1's light client verified:")
            for line in story.download_verified_model(home, watcher.task_id, out):
                self.console.print(f"  {line}", highlight=False)
        return result

    def _workers_done(self, ended_at: float) -> bool:
        """True once every worker has exited after the task ended, or they had their time to."""
        exited = all(w.exit_code is not None for w in self.workers)
        return exited or time.monotonic() - ended_at > _WORKER_EXIT_SECONDS

    def _check_workers(self, watcher: TaskWatcher) -> None:
        """Fail if every worker has exited while the task still runs."""
        if self.workers and all(w.exit_code is not None for w in self.workers):
            raise DemoError(f"every worker exited before task {watcher.task_id} ended{self._worker_logs()}")

    def _worker_logs(self) -> str:
        """The tails of the logs of workers that failed, for error messages."""
        failed = [w for w in self.workers if w.exit_code not in (None, 0)] or self.workers
        return "".join(f"\n--- worker {w.index} ({w.log}):\n{log_tail(w.log)}" for w in failed)

    def _plot_path(self) -> Path:
        """--plot, else the demo directory's synod-demo.png."""
        return self.options.plot or self.root / "synod-demo.png"

    def _title(self, watcher: TaskWatcher) -> str:
        """The plot's title."""
        task = watcher.task
        return (
            f"Synod task {task.id}: {task.data.dataset} {describe_arch(task.model.arch)}, "
            f"{self.options.workers} workers "
            f"(Dirichlet alpha={self.options.alpha}), {self.options.validators} validators"
        )

    def _shutdown(self) -> None:
        """Stop the explorer and the agents, then the network (unless kept)."""
        stop_workers([*self.workers, *self.agents, *(self.query.predictors if self.query else [])])
        directory = self.root / "localnet"
        if not net.is_generated(directory):
            return
        if self.options.keep and self.spec is not None:
            self.console.print(
                "the localnet and its explorer keep running: "
                f"`synod localnet down --dir {directory}` stops them"
            )
            return
        services.stop_explorer(directory)
        stopped = net.down(directory)
        others = len(self.agents) + (len(self.query.predictors) if self.query else 0)
        done = f"stopped {len(stopped)} nodes and {len(self.workers)} workers" + (
            f" and {others} other agents" if others else ""
        )
        self.console.print(f"{done}; data kept in {self.root}")


def run_demo(options: DemoOptions, console: Console | None = None) -> DemoResult:
    """Run the whole demo; raise DemoError (or KeyboardInterrupt) after cleaning up."""
    with interrupt_on_signals():
        demo = _Demo(options, console or Console(), prepare_directory(options.directory))
        return demo.run()
