"""Verified reads of learning state, and list pages deep into a table, against a running Synod node.

Side by side in one run, each closed loop for the same number of seconds:
- a task's rounds and a 200k-parameter checkpoint (the largest model the default params allow), read
  over gRPC unverified, and read + verified: every proof checked against the app hash of header
  H+1 from our light client, and the answer re-derived from the proven entries. The wait for a new
  header (one per block) is timed apart, as `header_s`, so the ratio is what verification costs;
- gRPC list throughput at page 1 and at page 1,000 of the accounts table (one account a page):
  a page starts at its key (a LevelDB seek), so a deep page costs what the first does.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from app.client.grpc_query import GrpcQueryClient
from app.client.keyring import Keyring
from app.client.light import LightClient, TrustedStore, TrustOptions
from app.client.rpc import CometRPC
from app.client.sender import TxSender
from app.client.tasktx import post_task_gas
from app.client.txbuilder import msg_send
from app.client.verified import verify_answer
from app.core.architectures import param_count
from app.core.coins import Coins
from app.core.crypto import ADDRESS_LEN, encode_address
from app.modules.services import get_service
from bench.light.chain import SynodNode
from synod.auth.v1 import query_pb2 as auth_query
from synod.tasks.v1 import query_pb2 as tasks_query
from synod.tasks.v1 import tx_pb2

__all__ = ["LearningTarget", "ReadRun", "build_task", "prepare", "measure_reads", "measure_pages"]

# digits has 64 features and 10 classes: mlp:2666 has 64*2666 + 2666 + 2666*10 + 10 = 199,960 weights.
LARGE_ARCH = "mlp:2666"
SENDS_PER_TX = 500  # 13M gas of the 50M a tx may use: 1,000 accounts in 2 blocks
_WEEK_S = 7 * 24 * 3600


@dataclass(frozen=True)
class LearningTarget:
    """What the loops read: the task, the checkpoint size, and the start key of page 1,000."""

    task_id: int
    parameters: int
    accounts: int
    deep_key: bytes


@dataclass(frozen=True)
class ReadRun:
    """One closed loop: reads done, seconds spent on them, per-read latencies, and header waits."""

    reads: int
    seconds: float
    latencies: list[float]
    header_s: float = 0.0

    @property
    def per_s(self) -> float:
        return self.reads / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else 0.0


def build_task() -> tx_pb2.MsgPostTask:
    """The post-task message of a LARGE_ARCH task, its owner left empty for prepare to fill.

    Its initial weights come from JAX, whose import and first model take seconds: the caller runs
    this in another process while the chains start (and so it imports JAX only here).
    """
    from app.agents.taskspec import build_post_task, load_task_spec

    spec = load_task_spec({"model": {"arch": LARGE_ARCH, "init_seed": 0}, "schedule": {"join_blocks": 1000}})
    return build_post_task("", spec)


def prepare(
    node: SynodNode, task: tx_pb2.MsgPostTask, accounts: int, tick: Callable[[int], None]
) -> LearningTarget:
    """Post task (from build_task) and fund `accounts` new addresses (for a table of that many pages)."""
    key = Keyring(node.home.root).private_key("validator")
    sender = TxSender(node.rpc, key)
    task.owner = key.address
    sender.send([task], timeout=60, gas=post_task_gas(task))  # the chain derives its 800 KB of weights
    task_id = _latest_task(node)
    # Receivers need no keys: made-up addresses, not keyring entries (a mnemonic's key derivation each).
    addresses = [
        encode_address(hashlib.sha256(b"bench account %d" % i).digest()[:ADDRESS_LEN])
        for i in range(accounts)
    ]
    for start in range(0, accounts, SENDS_PER_TX):
        batch = addresses[start : start + SENDS_PER_TX]
        sender.send([msg_send(key.address, a, Coins.of([("usyn", 1)])) for a in batch], timeout=60)
        tick(start + len(batch))
    with GrpcQueryClient(node.target().grpc_address) as client:
        request = auth_query.QueryAccountsRequest()
        request.pagination.limit = 999
        deep_key = client.call("auth", "Accounts", request).pagination.next_key  # the 1,000th account
    return LearningTarget(task_id, param_count(LARGE_ARCH, 64, 10), accounts, deep_key)


def _latest_task(node: SynodNode) -> int:
    """The id of the newest task."""
    with GrpcQueryClient(node.target().grpc_address) as client:
        return max(t.id for t in client.call("tasks", "Tasks", tasks_query.QueryTasksRequest()).tasks)


def _loop(seconds: float, read: Callable[[], float]) -> ReadRun:
    """Call read() for `seconds`; read returns the seconds it spent waiting (not counted)."""
    latencies: list[float] = []
    waited, deadline = 0.0, time.monotonic() + seconds
    spent = 0.0
    while time.monotonic() < deadline:
        started = time.perf_counter()
        wait = read()
        took = time.perf_counter() - started - wait
        waited += wait
        spent += took
        latencies.append(took)
    return ReadRun(len(latencies), spent, latencies, waited)


class _Headers:
    """App hashes of verified headers, one light-client verification per new height."""

    def __init__(self, node: SynodNode) -> None:
        rpc = CometRPC(node.rpc.url, timeout=30)
        anchor = 1
        anchor_hash = bytes.fromhex(rpc.block(anchor)["block_id"]["hash"])
        chain_id = rpc.status()["node_info"]["network"]
        self.light = LightClient(
            chain_id,
            rpc,
            TrustedStore(node.home.root / "bench-light"),
            TrustOptions(anchor, anchor_hash, _WEEK_S),
        )
        self.rpc = rpc
        self._hashes: dict[int, bytes] = {}

    def app_hash(self, height: int) -> tuple[bytes, float]:
        """The app hash of state `height` (from verified header height + 1) and seconds spent getting it."""
        if height in self._hashes:
            return self._hashes[height], 0.0
        started = time.perf_counter()
        self.rpc.wait_for_height(height + 1, timeout=30)
        self._hashes[height] = self.light.verify_to_height(height + 1).app_hash
        return self._hashes[height], time.perf_counter() - started


def measure_reads(
    node: SynodNode, target: LearningTarget, seconds: float
) -> dict[str, tuple[ReadRun, ReadRun]]:
    """(unverified, verified) loops for a task's rounds and its 200k-parameter checkpoint."""
    headers = _Headers(node)
    cases: dict[str, tuple[str, Message]] = {
        "rounds": ("Rounds", tasks_query.QueryRoundsRequest(task_id=target.task_id)),
        "checkpoint": ("Model", tasks_query.QueryModelRequest(task_id=target.task_id, round=0)),
    }
    out = {}
    with GrpcQueryClient(node.target().grpc_address, timeout=30) as client:
        service = get_service("tasks")
        for name, (method, request) in cases.items():
            plain = _loop(seconds, lambda m=method, r=request: _read(client, m, r))

            def verified(m: str = method, r: Message = request) -> float:
                response = client.call("tasks", m, r)
                app_hash, waited = headers.app_hash(response.proof.height)
                verify_answer(service, m, r, response, app_hash)
                return waited

            out[name] = (plain, _loop(seconds, verified))
    return out


def _read(client: GrpcQueryClient, method: str, request: Message) -> float:
    client.call("tasks", method, request)
    return 0.0


def measure_pages(node: SynodNode, target: LearningTarget, seconds: float) -> tuple[ReadRun, ReadRun]:
    """(page 1, page 1,000) of the accounts table, one account a page, unverified gRPC."""
    first = auth_query.QueryAccountsRequest()
    first.pagination.limit = 1
    deep = auth_query.QueryAccountsRequest()
    deep.pagination.limit, deep.pagination.key = 1, target.deep_key
    with GrpcQueryClient(node.target().grpc_address, timeout=30) as client:

        def page(request: Message) -> Callable[[], float]:
            def read() -> float:
                client.call("auth", "Accounts", request)
                return 0.0

            return read

        return _loop(seconds, page(first)), _loop(seconds, page(deep))


def figures(reads: dict[str, tuple[ReadRun, ReadRun]], pages: tuple[ReadRun, ReadRun]) -> dict[str, Any]:
    """Headline figures: verified/unverified throughput ratios and the deep-page ratio."""
    out: dict[str, Any] = {}
    for name, (plain, verified) in reads.items():
        out[f"{name}_unverified_per_s"] = round(plain.per_s, 1)
        out[f"{name}_verified_per_s"] = round(verified.per_s, 1)
        out[f"{name}_verified_over_unverified_ratio"] = (
            round(verified.per_s / plain.per_s, 3) if plain.per_s else 0
        )
        out[f"{name}_header_wait_s"] = round(verified.header_s, 2)
    first, deep = pages
    out["page1_per_s"], out["page1000_per_s"] = round(first.per_s, 1), round(deep.per_s, 1)
    out["page1000_over_page1_ratio"] = round(deep.per_s / first.per_s, 3) if first.per_s else 0
    return out
