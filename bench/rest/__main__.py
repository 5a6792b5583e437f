"""python -m bench.rest [--accounts 1000] [--seconds 3] [--rounds 3] [--smoke]

The same query, a bank Balance of a random funded account, against the in-process gRPC server and
REST gateway over one app on LevelDB (the servers on one asyncio loop in a thread, as in the app
process), closed loop at concurrency 1 and 16 (one client and connection per thread: a kept-alive
HTTP/1.1 connection, a gRPC channel). Three ways: gRPC (always proven), REST without proof (the
default) and REST with ?verify=true (proven, like gRPC). Cells alternate over --rounds rounds, so a
change in the machine's load hits every transport alike. The client threads share the process (and
its GIL) with the servers: figures compare transports, they are no capacity figure of a node.
Writes bench/results/rest.json (--smoke: rest-smoke.json, small and quick, for CI).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from app.client.grpc_query import GrpcQueryClient
from app.grpc.server import QueryServer
from app.rest.server import RestServer
from app.state.backend import LevelDBBackend
from bench.common import print_table, write_results
from synod.bank.v1 import query_pb2 as bank_query
from tests.integration.harness import DENOM, Chain, test_key

CONCURRENCY = (1, 16)
TRANSPORTS = ("grpc", "rest", "rest-verify")
FUNDS = 10**9
Query = Callable[[str], int]


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.rest", description=__doc__)
    p.add_argument("--accounts", type=int, default=1000, help="funded accounts in genesis")
    p.add_argument("--seconds", type=float, default=3.0, help="seconds per cell and round")
    p.add_argument("--rounds", type=int, default=3, help="rounds over every cell")
    p.add_argument("--smoke", action="store_true", help="small and quick, for CI")
    args = p.parse_args()
    if args.smoke:
        args.accounts, args.seconds, args.rounds = 20, 0.25, 1
    return args


class _Servers:
    """The gRPC server and the REST gateway over one backend, on one loop in a daemon thread."""

    def __init__(self, backend: LevelDBBackend) -> None:
        self.loop = asyncio.new_event_loop()
        self.grpc, self.rest = QueryServer(backend), RestServer(backend)
        self.grpc_port = self.loop.run_until_complete(self.grpc.start("127.0.0.1:0"))
        self.rest_port = self.loop.run_until_complete(self.rest.start("127.0.0.1:0"))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        for server in (self.rest, self.grpc):
            asyncio.run_coroutine_threadsafe(server.stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def _grpc_query(servers: _Servers) -> tuple[Query, Callable[[], None]]:
    """A thread's gRPC client: the balance of an address."""
    client = GrpcQueryClient(f"127.0.0.1:{servers.grpc_port}", timeout=30)

    def ask(address: str) -> int:
        request = bank_query.QueryBalanceRequest(address=address, denom=DENOM)
        return int(client.call("bank", "Balance", request).balance.amount)

    return ask, client.close


def _rest_query(servers: _Servers, verify: bool) -> tuple[Query, Callable[[], None]]:
    """A thread's REST client (one kept-alive connection)."""
    connection = http.client.HTTPConnection("127.0.0.1", servers.rest_port, timeout=30)
    suffix = "&verify=true" if verify else ""

    def ask(address: str) -> int:
        connection.request("GET", f"/synod/bank/v1/balances/{address}/by_denom?denom={DENOM}{suffix}")
        response = connection.getresponse()
        body = json.loads(response.read())
        if response.status != 200 or ("proof" in body) != verify:
            raise RuntimeError(f"REST answered {response.status}: {body}")
        return int(body["balance"]["amount"])

    return ask, connection.close


def _client(servers: _Servers, transport: str) -> tuple[Query, Callable[[], None]]:
    if transport == "grpc":
        return _grpc_query(servers)
    return _rest_query(servers, verify=transport == "rest-verify")


def _measure(servers: _Servers, transport: str, threads: int, seconds: float, addresses: list[str]) -> dict:
    """Closed loop: each thread asks until the time is up; (latencies, requests, elapsed)."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start_line = threading.Barrier(threads + 1)
    deadline = [0.0]

    def run(i: int) -> None:
        ask, close = _client(servers, transport)
        rng = random.Random(i)
        ask(addresses[0])  # connect before the clock starts
        start_line.wait()
        try:
            while (now := time.perf_counter()) < deadline[0]:
                assert ask(rng.choice(addresses)) == FUNDS
                latencies[i].append(time.perf_counter() - now)
        finally:
            close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start_line.wait()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    flat = [x for per in latencies for x in per]
    return {"latencies": flat, "requests": len(flat), "seconds": elapsed}


def _summary(runs: list[dict]) -> dict[str, float]:
    """Median and p99 latency (ms) and throughput (requests/s) over a cell's rounds."""
    flat = sorted(x for r in runs for x in r["latencies"])
    requests, seconds = sum(r["requests"] for r in runs), sum(r["seconds"] for r in runs)
    return {
        "p50_ms": round(statistics.median(flat) * 1000, 3),
        "p99_ms": round(flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1000, 3),
        "rps": round(requests / seconds, 1),
        "requests": requests,
    }


def _table(cells: dict[str, dict[str, float]]) -> list[list[Any]]:
    """Rows with each REST figure's ratio to gRPC at the same concurrency."""
    rows = []
    for threads in CONCURRENCY:
        base = cells[f"grpc/{threads}"]
        for transport in TRANSPORTS:
            c = cells[f"{transport}/{threads}"]
            rows.append(
                [
                    transport,
                    threads,
                    c["p50_ms"],
                    c["p99_ms"],
                    c["rps"],
                    f"{c['p50_ms'] / base['p50_ms']:.2f}",
                    f"{c['rps'] / base['rps']:.2f}",
                ]
            )
    return rows


def main() -> None:
    args = _parse()
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as d:
        chain = Chain(backend=LevelDBBackend(d), check_invariants=False)
        names = [f"acct{i}" for i in range(args.accounts)]
        chain.init(dict.fromkeys(names, FUNDS))
        addresses = [test_key(n).address for n in names]
        servers = _Servers(chain.backend)
        try:
            runs: dict[str, list[dict]] = {}
            for _ in range(args.rounds):
                for threads in CONCURRENCY:
                    for transport in TRANSPORTS:
                        run = _measure(servers, transport, threads, args.seconds, addresses)
                        runs.setdefault(f"{transport}/{threads}", []).append(run)
        finally:
            servers.close()
            chain.backend.close()
    cells = {key: _summary(r) for key, r in runs.items()}
    columns = ["transport", "threads", "p50 ms", "p99 ms", "req/s", "p50 / gRPC", "req/s / gRPC"]
    rows = _table(cells)
    print_table("bank Balance: REST gateway vs gRPC (in-process servers, LevelDB)", columns, rows)
    write_results(
        "rest-smoke" if args.smoke else "rest",
        {
            "query": "synod.bank.v1.Query/Balance of a random funded account",
            "accounts": args.accounts,
            "seconds_per_cell": args.seconds,
            "rounds": args.rounds,
            "cells": cells,
            "table": {"columns": columns, "rows": rows},
            "note": "servers and client threads in one process (one GIL): a transport comparison",
        },
    )


if __name__ == "__main__":
    main()
