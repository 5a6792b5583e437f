"""Query throughput against a running Synod node: one account's balance, closed loop, N threads.

A backend is a function QueryTarget -> query function: called once per thread (so each thread owns
its client and connection), the query function asks for the target's balance once and checks the
answer. Another transport is one such function plus one Backend in BACKENDS; the table, the result
keys and the ratios over /abci_query /store (prove) follow.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.abci.query import PROOF_OP_TYPE
from app.client.grpc_query import GrpcQueryClient
from app.client.rpc import CometRPC, decode_base64
from app.state import smt
from bench.light.chain import QueryTarget
from synod.bank.v1 import query_pb2 as bank_query

__all__ = ["Backend", "BACKENDS", "BASELINE", "QueryRun", "merge", "check_answers", "measure"]

Query = Callable[[], None]
_TICK_S = 0.2  # progress-bar updates while the threads run


def _answer(resp: dict[str, Any], path: str) -> None:
    """Raise unless the node answered code 0."""
    if int(resp.get("code", 0)) != 0:
        raise RuntimeError(f"abci_query {path} failed: code {resp['code']} {resp.get('log', '')}")


def _store_proof(resp: dict[str, Any]) -> smt.Proof:
    """The SMT proof carried by a /store answer."""
    ops = (resp.get("proofOps") or {}).get("ops") or []
    if len(ops) != 1 or ops[0]["type"] != PROOF_OP_TYPE:
        raise RuntimeError(f"/store answer carries no {PROOF_OP_TYPE} proof: {ops}")
    return smt.Proof.decode(decode_base64(ops[0]["data"]))


def abci_store_proof(target: QueryTarget) -> Query:
    """CometBFT /abci_query path /store, prove=true: the raw balance and its Merkle proof, decoded."""
    rpc = CometRPC(target.rpc_url, timeout=30)

    def query() -> None:
        resp = rpc.abci_query("/store", target.store_key, prove=True)
        _answer(resp, "/store")
        _store_proof(resp)

    return query


_ALL_BALANCES = "/synod.bank.v1.Query/AllBalances"


def abci_bank_balances(target: QueryTarget) -> Query:
    """CometBFT /abci_query at the bank service's AllBalances path (no proof): every balance, parsed."""
    rpc = CometRPC(target.rpc_url, timeout=30)
    data = bank_query.QueryAllBalancesRequest(address=target.address).SerializeToString()

    def query() -> None:
        resp = rpc.abci_query(_ALL_BALANCES, data)
        _answer(resp, _ALL_BALANCES)
        bank_query.QueryAllBalancesResponse.FromString(decode_base64(resp.get("value")))

    return query


def grpc_balance_proof(target: QueryTarget) -> Query:
    """gRPC synod.bank.v1.Query/Balance: the balance with its StateProof, SMT proofs decoded."""
    client = GrpcQueryClient(target.grpc_address, timeout=30)
    request = bank_query.QueryBalanceRequest(address=target.address, denom=target.denom)

    def query() -> None:
        resp = client.call("bank", "Balance", request)
        for entry in resp.proof.entries:
            smt.Proof.decode(entry.proof)

    return query


@dataclass(frozen=True)
class Backend:
    """A way to ask for the balance: `slug` names it in result keys, `label` in the table."""

    slug: str
    label: str
    make: Callable[[QueryTarget], Query]


BACKENDS = [
    Backend("abci_store_prove", "abci_query /store (prove)", abci_store_proof),
    Backend("abci_bank_balances", "abci_query bank AllBalances", abci_bank_balances),
    Backend("grpc_balance_prove", "gRPC bank Balance (with proof)", grpc_balance_proof),
]
BASELINE = BACKENDS[0]  # ratios are over it: the proof-carrying balance query CometBFT serves


def _app_hash(rpc: CometRPC, height: int) -> bytes:
    """The app hash of the state at height, from header height + 1 (not light-verified: a sanity check)."""
    rpc.wait_for_height(height + 1, timeout=30)
    return bytes.fromhex(rpc.commit(height + 1)["header"]["app_hash"])


def check_answers(target: QueryTarget) -> tuple[int, int]:
    """Check once that every backend reports the same balance, proven against header H+1.

    Returns (balance, encoded /store proof bytes).
    """
    rpc = CometRPC(target.rpc_url, timeout=30)
    resp = rpc.abci_query("/store", target.store_key, prove=True)
    _answer(resp, "/store")
    value, proof, height = decode_base64(resp.get("value")), _store_proof(resp), int(resp["height"])
    smt.verify_membership(_app_hash(rpc, height), target.store_key, value, proof)
    balance = int.from_bytes(value, "big")
    request = bank_query.QueryAllBalancesRequest(address=target.address).SerializeToString()
    listed = bank_query.QueryAllBalancesResponse.FromString(
        decode_base64(rpc.abci_query(_ALL_BALANCES, request).get("value"))
    )
    grpc_answer = GrpcQueryClient(target.grpc_address, timeout=30).call(
        "bank", "Balance", bank_query.QueryBalanceRequest(address=target.address, denom=target.denom)
    )
    (entry,) = grpc_answer.proof.entries
    if entry.key != target.store_key:
        raise RuntimeError(f"gRPC proved key {entry.key.hex()}, not the balance key {target.store_key.hex()}")
    if grpc_answer.proof.app_hash != _app_hash(rpc, grpc_answer.proof.height):
        raise RuntimeError(f"gRPC answer's app hash is not header {grpc_answer.proof.height + 1}'s")
    smt.verify_membership(grpc_answer.proof.app_hash, entry.key, entry.value, smt.Proof.decode(entry.proof))
    seen = {
        "/store": balance,
        "bank AllBalances": {c.denom: int(c.amount) for c in listed.balances}.get(target.denom),
        "gRPC Balance": int(grpc_answer.balance.amount),
    }
    if len(set(seen.values())) != 1:
        raise RuntimeError(f"the backends disagree on the balance of {target.address}: {seen}")
    return balance, len(proof.encode())


@dataclass(frozen=True)
class QueryRun:
    """Closed-loop result at one concurrency: the window and every completed query's latency."""

    concurrency: int
    seconds: float
    latencies: tuple[float, ...]  # sorted

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def per_s(self) -> float:
        return self.completed / self.seconds

    def percentile(self, q: int) -> float:
        """The q-th latency percentile (1..99)."""
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]


def merge(runs: list[QueryRun]) -> QueryRun:
    """Several windows at one concurrency as one: completed over total time, latencies pooled."""
    pooled = tuple(sorted(x for r in runs for x in r.latencies))
    return QueryRun(runs[0].concurrency, sum(r.seconds for r in runs), pooled)


def measure(
    make_query: Callable[[QueryTarget], Query],
    target: QueryTarget,
    concurrency: int,
    seconds: float,
    on_tick: Callable[[int], None] | None = None,
) -> QueryRun:
    """`concurrency` threads each query in a loop for `seconds`; every answer is checked."""
    queries = [make_query(target) for _ in range(concurrency)]
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[BaseException] = []
    start_line = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def worker(i: int) -> None:
        start_line.wait()
        mine, query = latencies[i], queries[i]
        try:
            while (t := time.perf_counter()) < deadline[0]:
                query()
                mine.append(time.perf_counter() - t)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    begin = time.perf_counter()
    deadline[0] = begin + seconds
    start_line.wait()
    while alive := [t for t in threads if t.is_alive()]:
        alive[0].join(_TICK_S)  # returns as the window closes, not up to a tick later
        if on_tick:
            on_tick(sum(len(x) for x in latencies))
    elapsed = time.perf_counter() - begin
    if errors:
        raise RuntimeError(f"a query failed at concurrency {concurrency}: {errors[0]!r}") from errors[0]
    flat = tuple(sorted(x for per_thread in latencies for x in per_thread))
    if len(flat) < 2:
        raise RuntimeError(f"only {len(flat)} queries completed in {seconds} s at concurrency {concurrency}")
    return QueryRun(concurrency, elapsed, flat)
