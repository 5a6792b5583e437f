"""What the demo shows beyond FedAvg: a committee that scores every update and has an attacker
slashed, a consensus-learning prediction query settled by several predictors, the explorer page,
and the final model downloaded with a proof.

Each part is a `StoryParts` switch (`synod demo --plain` turns off all but the explorer). Every
agent here is the real command a user runs (`synod committee run`, `synod predict run`), started
as a subprocess logging to DIR/logs; the query is posted and its labels revealed by node0's
genesis-funded key, the way `synod tx consensus query --commit-labels` and `reveal-labels` do.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from app.client.consensus import ConsensusClient
from app.client.consensustx import SALT_LEN, QuerySpec, msg_post_query, msg_reveal_labels
from app.client.keyring import Keyring
from app.client.sender import TxSender
from app.client.verified.trust import has_trust, light_dir
from app.core.crypto import decode_address
from app.demo.chain import DemoError, rpc_url
from app.demo.workers import AgentProcess, WorkerProcess, spawn_agent
from app.modules.consensus.logic import compute_labels_commitment
from app.node import localnet as net
from app.node.toolchain import find_binary
from synod.base.v1 import coin_pb2
from synod.consensus.v1 import consensus_pb2
from synod.tasks.v1 import tasks_pb2

__all__ = [
    "DEFAULT_ATTACK",
    "QueryRun",
    "StoryParts",
    "StoryResult",
    "create_predictor_keys",
    "download_verified_model",
    "post_query",
    "report_committee",
    "report_query",
    "start_members",
    "start_predictors",
]

DEFAULT_ATTACK = "sign_flip:scale=2"  # app/ml/attacks: the last worker sends its update reversed, doubled
# 40 held-out digits, their true labels known to the poster only (committed at posting).
QUERY_URI = "synod:digits/test?start=0&count=40&seed=0"
QUERY_CLASSES = 10
PREDICTOR_MODELS = ("logreg", "mlp:32", "mlp:16")  # one per predictor, each on its own shard
_QUERY_REWARD, _QUERY_MIN_STAKE = 1_000_000, 10_000
# Round 0's commit phase covers the predictors' start-up (JAX import, training) beside the workers;
# every phase closes as soon as all predictors are done (max_participants).
_QUERY_COMMIT_SECONDS, _QUERY_REVEAL_SECONDS, _QUERY_LABEL_SECONDS = 90.0, 20.0, 60.0
_CLI_SECONDS = 120.0


@dataclass(frozen=True)
class StoryParts:
    """Which parts run; all on by default, all off but the explorer with --plain."""

    committee: bool = True  # a score phase each round, scored by every validator's `synod committee run`
    attack: str = DEFAULT_ATTACK  # the last worker's attack (needs the committee); "": every worker honest
    query: bool = True  # a prediction query answered by `synod predict run` agents (digits)
    verify: bool = True  # the final model downloaded with `--verify` (light client, proofs)
    explorer: bool = True  # `synod explorer` for node0, its URL printed first

    @classmethod
    def plain(cls, explorer: bool = True) -> StoryParts:
        """FedAvg with honest workers and nothing else (the explorer, if asked)."""
        return cls(committee=False, attack="", query=False, verify=False, explorer=explorer)


def _blocks(seconds: float, block_seconds: float) -> int:
    """Blocks that take at least seconds (never fewer than 2)."""
    return max(2, math.ceil(seconds / max(block_seconds, 0.05)))


def start_members(spec: net.LocalnetSpec, logs: Path) -> list[AgentProcess]:
    """One `synod committee run` per validator, with its operator key in its node home."""
    members = []
    for index in range(spec.validators):
        home = net.node_home(spec.directory, index).root
        argv = ["committee", "run", "--key", "validator", "--home", str(home)]
        argv += ["--node", rpc_url(spec, index), "--quiet"]
        members.append(spawn_agent(argv, logs / f"member{index}.log"))
    return members


@dataclass
class QueryRun:
    """A posted prediction query: the labels the poster committed to, its predictors, what it paid."""

    query_id: int
    labels: bytes
    salt: bytes
    predictors: list[AgentProcess] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    query: consensus_pb2.PredictionQuery = field(default_factory=consensus_pb2.PredictionQuery)
    settlement: consensus_pb2.Settlement | None = None
    participants: list[consensus_pb2.Participant] = field(default_factory=list)
    revealed: bool = False

    @property
    def closed(self) -> bool:
        """True once the labels are revealed and everyone is paid (or the query ended otherwise)."""
        return self.query.status in (consensus_pb2.QUERY_STATUS_CLOSED, consensus_pb2.QUERY_STATUS_EXPIRED)

    def poll(self, sender: TxSender) -> None:
        """Read the query; once it settles, reveal the committed labels (once); once closed, read the
        settlement and the payments."""
        client = ConsensusClient(sender.rpc)
        self.query = client.query(self.query_id).query
        if self.query.status == consensus_pb2.QUERY_STATUS_SETTLED and not self.revealed:
            msg = msg_reveal_labels(sender.key.address, self.query_id, self.labels, self.salt)
            sender.send([msg], timeout=_CLI_SECONDS)
            self.revealed = True
        if self.closed and self.settlement is None:
            self.settlement = client.answer(self.query_id)
            self.participants = client.participants(self.query_id)

    def describe(self) -> str:
        """One line: where the query stands."""
        q = self.query
        if q.status == consensus_pb2.QUERY_STATUS_OPEN:
            phase = consensus_pb2.QueryPhase.Name(q.phase).removeprefix("QUERY_PHASE_").lower()
            return f"query {self.query_id}: round {q.round} {phase} phase, {len(self.predictors)} predictors"
        if self.settlement is not None and self.settlement.labels_revealed:
            accuracy = self.settlement.accuracy_bps / 100
            return f"query {self.query_id}: settled, {accuracy:.1f}% of its answers correct"
        status = consensus_pb2.QueryStatus.Name(q.status).removeprefix("QUERY_STATUS_").lower()
        return f"query {self.query_id}: {status or 'posted'}"


def post_query(sender: TxSender, block_seconds: float, predictors: int) -> QueryRun:
    """Post the digits query with its labels committed (bound to the poster and the inputs)."""
    from app.ml.queryinputs import compute_inputs_hash, resolve_inputs_uri

    blob, true_labels = resolve_inputs_uri(QUERY_URI)
    assert true_labels is not None, "a synod: inputs reference always has its labels"
    labels, salt = bytes(int(c) for c in true_labels), secrets.token_bytes(SALT_LEN)
    inputs_hash = compute_inputs_hash(blob)
    commitment = compute_labels_commitment(decode_address(sender.key.address), inputs_hash, salt, labels)
    spec = QuerySpec(
        label_count=QUERY_CLASSES,
        reward=coin_pb2.Coin(denom="usyn", amount=str(_QUERY_REWARD)),
        min_stake=coin_pb2.Coin(denom="usyn", amount=str(_QUERY_MIN_STAKE)),
        description="40 held-out digits, settled by agreement",
        rounds=1,
        peer_sample=2,
        commit_blocks=_blocks(_QUERY_COMMIT_SECONDS, block_seconds),
        reveal_blocks=_blocks(_QUERY_REVEAL_SECONDS, block_seconds),
        label_blocks=_blocks(_QUERY_LABEL_SECONDS, block_seconds),
        max_participants=predictors,
    )
    msg = msg_post_query(sender.key.address, spec, len(labels), inputs_hash, b"", QUERY_URI, commitment)
    outcome = sender.send([msg], timeout=_CLI_SECONDS)
    query_id = outcome.attribute("post_query", "query_id")
    if query_id is None:
        raise DemoError(f"the post-query transaction {outcome.txhash} emitted no query id")
    return QueryRun(int(query_id), labels, salt)


def create_predictor_keys(home: Path) -> list[str]:
    """One key `predictorI` per predictor in home's keyring; their addresses."""
    keyring = Keyring(home)
    return [keyring.add(f"predictor{i}")[0].address for i in range(len(PREDICTOR_MODELS))]


def start_predictors(run: QueryRun, spec: net.LocalnetSpec, home: Path, logs: Path) -> None:
    """Start `synod predict run` for each predictor key in home, predictor i through validator
    i mod N, each with its own model on its own shard of the digits."""
    count = len(PREDICTOR_MODELS)
    for i, model in enumerate(PREDICTOR_MODELS):
        argv = ["predict", "run", "--key", f"predictor{i}", "--query", str(run.query_id), "--home", str(home)]
        argv += ["--model", model, "--data", f"digits:shard={i}/{count}:seed=5"]
        argv += ["--node", rpc_url(spec, i % spec.validators), "--quiet"]
        run.predictors.append(spawn_agent(argv, logs / f"predictor{i}.log"))


def download_verified_model(home: Path, task_id: int, out: Path) -> list[str]:
    """`synod query task model TASK --out OUT --verify` through the node of home (its light client
    trusts the chain's first block, `synod light init`); return the commands and what they printed."""
    synod, shown = find_binary("synod"), []
    commands = [] if has_trust(light_dir(home)) else [["light", "init", "--home", str(home)]]
    commands.append(
        ["query", "task", "model", str(task_id), "--out", str(out), "--verify", "--home", str(home)]
    )
    for argv in commands:
        proc = subprocess.run([synod, *argv], capture_output=True, text=True, timeout=_CLI_SECONDS)
        if proc.returncode != 0:
            raise DemoError(f"`synod {' '.join(argv)}` failed: {(proc.stderr or proc.stdout).strip()}")
        shown.append(f"$ synod {' '.join(argv)}")
        shown += [line for line in proc.stdout.splitlines() if line.strip()]
    return shown


@dataclass(frozen=True)
class StoryResult:
    """What the committee and the query did, in numbers (for the summary and the e2e test)."""

    attacker_rejected_rounds: tuple[int, ...] = ()
    attacker_slashed: int = 0
    honest_rejected: int = 0
    query_accuracy_bps: int | None = None
    query_voters: int = 0


def _rejected_rounds(records: Sequence[tasks_pb2.RoundRecord], address: str) -> tuple[int, ...]:
    """The rounds whose record lists address among the rejected workers."""
    return tuple(r.round for r in records if address in r.rejected_workers)


def report_committee(
    console: Console,
    workers: Sequence[WorkerProcess],
    participants: Sequence[tasks_pb2.Participant],
    records: Sequence[tasks_pb2.RoundRecord],
) -> StoryResult:
    """A table of every worker's judged updates and lost stake; a line on the attacker's fate."""
    by_address = {p.address: p for p in participants}
    table = Table(title="the committee's verdicts, per worker", title_justify="left")
    for column in ("worker", "attack", "accepted", "rejected in rounds", "stake slashed"):
        table.add_column(column)
    attacker: tuple[tuple[int, ...], int] | None = None
    honest_rejected = 0
    for w in workers:
        p = by_address.get(w.address, tasks_pb2.Participant())
        rounds, slashed = _rejected_rounds(records, w.address), int(p.slashed or 0)
        if w.attack:
            attacker = (rounds, slashed)
        else:
            honest_rejected += len(rounds)
        cells = (
            str(p.accepted_updates),
            ", ".join(map(str, rounds)) or "-",
            f"{slashed}usyn" if slashed else "-",
        )
        table.add_row(f"{w.index} {w.address[:14]}…", w.attack or "honest", *cells)
    console.print(table)
    if attacker is None:
        return StoryResult(honest_rejected=honest_rejected)
    rounds, slashed = attacker
    if rounds and slashed:
        console.print(
            f"[bold]the attacker was excluded from rounds {', '.join(map(str, rounds))} and slashed "
            f"{slashed}usyn[/]; the model learned from the honest workers"
        )
    else:
        console.print("[red]the attacker's updates were never rejected[/]")
    return StoryResult(rounds, slashed, honest_rejected)


def report_query(console: Console, run: QueryRun, result: StoryResult) -> StoryResult:
    """The settled query: its accuracy against the revealed labels, and what each predictor earned."""
    settlement = run.settlement
    if settlement is None:
        console.print(f"[red]{run.describe()}: it did not close[/]")
        return result
    table = Table(title=f"prediction query {run.query_id}, settled by agreement", title_justify="left")
    for column in ("predictor", "model", "correct", "reward", "slashed"):
        table.add_column(column)
    by_address = {p.address: p for p in run.participants}
    for i, (address, model) in enumerate(zip(run.addresses, PREDICTOR_MODELS, strict=True)):
        p = by_address.get(address, consensus_pb2.Participant())
        cells = (f"{p.correct}/{len(run.labels)}", f"{p.reward or 0}usyn", f"{p.slashed or 0}usyn")
        table.add_row(f"{i} {address[:14]}…", model, *cells)
    console.print(table)
    console.print(
        f"[bold]query {run.query_id} settled in round {settlement.round} by {len(settlement.voters)} "
        f"predictors: {settlement.accuracy_bps / 100:.1f}% of the settled answers match the labels[/] "
        "the poster committed to before any answer existed"
    )
    return dataclasses.replace(
        result, query_accuracy_bps=settlement.accuracy_bps, query_voters=len(settlement.voters)
    )
