"""Open-loop paced load: pre-built txs offered at a fixed rate over the nodes' broadcast_tx_sync.

A dispatcher thread releases tx i at t0 + i/rate into a queue; a pool of worker threads, each with
one keep-alive HTTP connection per node, sends it to node i % N and records the wall-clock send
time and the CheckTx code. Sends that fall behind schedule are reported (offered rate achieved).
After the load, blocks are read back from one node: a tx's commit time is the BFT time of the next
block's header (the median of the precommit timestamps that committed its block).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import queue
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from app.client.rpc import CometRPC, RpcError

__all__ = ["Sent", "offer", "StepResult", "collect", "rfc3339_to_unix"]

_HTTP_TIMEOUT = 10.0


@dataclass
class Sent:
    """Outcome of one broadcast: wall-clock send time, CheckTx code (-1: transport error)."""

    index: int
    send_time: float = 0.0
    code: int | None = None
    log: str = ""


class _Conn:
    """A keep-alive HTTP/1.1 connection to one node's RPC, reconnecting on failure."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> bytes:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=_HTTP_TIMEOUT)
            try:
                self.conn.request("GET", path)
                return self.conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError


def offer(
    txs: list[bytes],
    hosts: list[tuple[str, int]],
    rate: float,
    workers: int,
    stop: threading.Event,
    on_tick: Callable[[int], None] | None = None,
) -> tuple[list[Sent], float, float]:
    """Send txs at `rate` per second; return (outcomes, t0 wall, achieved send rate)."""
    n = len(txs)
    results = [Sent(i) for i in range(n)]
    work: queue.Queue[int | None] = queue.Queue()
    sent_count = [0]
    lock = threading.Lock()

    def worker() -> None:
        conns = [_Conn(h, p) for h, p in hosts]
        while True:
            i = work.get()
            if i is None:
                return
            res = results[i]
            path = "/broadcast_tx_sync?tx=0x" + txs[i].hex()
            res.send_time = time.time()
            try:
                body = conns[i % len(conns)].get(path)
                answer = json.loads(body)
                if "error" in answer and answer["error"]:
                    res.code, res.log = -2, str(answer["error"])[:200]
                else:
                    res.code = int(answer["result"]["code"])
                    res.log = answer["result"].get("log", "")[:200]
            except (OSError, http.client.HTTPException, ValueError) as e:
                res.code, res.log = -1, repr(e)[:200]
            with lock:
                sent_count[0] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    start_mono = time.monotonic() + 0.05
    t0 = time.time() + (start_mono - time.monotonic())
    last_tick = 0.0
    for i in range(n):
        if stop.is_set():
            break
        due = start_mono + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        work.put(i)
        if on_tick and time.monotonic() - last_tick > 0.25:
            last_tick = time.monotonic()
            on_tick(sent_count[0])
    for _ in threads:
        work.put(None)
    deadline = time.monotonic() + _HTTP_TIMEOUT * 3
    for t in threads:
        t.join(timeout=max(deadline - time.monotonic(), 0.1))
    elapsed = (
        max(r.send_time for r in results if r.send_time) - t0 if any(r.send_time for r in results) else 1
    )
    return results, t0, (n / elapsed if elapsed > 0 else 0.0)


def rfc3339_to_unix(text: str) -> float:
    """CometBFT's RFC 3339 nanosecond timestamps to unix seconds."""
    head, _, frac = text.rstrip("Z").partition(".")
    base = datetime.fromisoformat(head + "+00:00").timestamp()
    return base + (float("0." + frac) if frac else 0.0)


@dataclass
class StepResult:
    """One (system, rate) step."""

    rate: float
    offered: int
    achieved_send_rate: float
    accepted: int
    rejected: int
    rejected_sample: str
    included: int
    included_ok: int
    committed_in_window: int
    window_s: float
    latencies: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    cpu_app_s: float = 0.0
    loadgen_cpu_s: float = 0.0
    blocks: int = 0
    max_block_txs: int = 0

    @property
    def committed_tps(self) -> float:
        return self.committed_in_window / self.window_s if self.window_s > 0 else 0.0

    def pct(self, q: float) -> float | None:
        if not self.latencies:
            return None
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1]


def fetch_blocks(rpc: CometRPC, first: int, last: int) -> dict[int, tuple[float, list[bytes]]]:
    """{height: (header time unix, raw txs)} for first..last."""
    out = {}
    for h in range(first, last + 1):
        b = rpc.block(h)["block"]
        out[h] = (
            rfc3339_to_unix(b["header"]["time"]),
            [base64.b64decode(t) for t in (b["data"]["txs"] or [])],
        )
    return out


def block_codes(rpc: CometRPC, height: int) -> list[int]:
    """The result code of each tx in block `height`."""
    res = rpc.block_results(height)
    return [int(r.get("code", 0)) for r in (res.get("txs_results") or [])]


def tx_hash(tx: bytes) -> bytes:
    return hashlib.sha256(tx).digest()


def wait_included(
    rpc: CometRPC,
    start_height: int,
    pending: set[bytes],
    timeout: float,
    stop: threading.Event,
    on_tick: Callable[[int, int], None] | None = None,
) -> tuple[dict[int, tuple[float, list[bytes]]], int]:
    """Poll blocks from start_height until every hash in pending is included (or timeout).

    Returns (blocks read, including one block past the last needed, for its commit time; last height).
    """
    blocks: dict[int, tuple[float, list[bytes]]] = {}
    missing = set(pending)
    next_h = start_height
    deadline = time.monotonic() + timeout
    done_at: int | None = None
    while not stop.is_set():
        try:
            latest = int(rpc.status()["sync_info"]["latest_block_height"])
            if latest >= next_h:
                blocks.update(fetch_blocks(rpc, next_h, latest))
                for h in range(next_h, latest + 1):
                    missing.difference_update(tx_hash(t) for t in blocks[h][1])
                    if not missing and done_at is None:
                        done_at = h
                next_h = latest + 1
        except RpcError:
            pass
        if on_tick:
            on_tick(len(pending) - len(missing), next_h - 1)
        # Need the header after the last tx-carrying block (its time = that block's commit time).
        if done_at is not None and next_h - 1 >= done_at + 1:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return blocks, next_h - 1


def collect(
    rpc: CometRPC,
    rate: float,
    txs: list[bytes],
    sent: list[Sent],
    t0: float,
    achieved: float,
    duration: float,
    warmup: float,
    blocks: dict[int, tuple[float, list[bytes]]],
    cpu_s: float,
    check_codes: bool,
) -> StepResult:
    """Match sends to blocks: committed tx/s in the steady-state window, latencies, CPU."""
    heights = sorted(blocks)
    commit_time = {h: blocks[h + 1][0] for h in heights if h + 1 in blocks}
    where: dict[bytes, int] = {}
    for h in heights:
        for t in blocks[h][1]:
            where.setdefault(tx_hash(t), h)
    accepted = [s for s in sent if s.code == 0]
    rejected = [s for s in sent if s.code not in (0, None)]
    lat, included = [], 0
    included_heights: set[int] = set()
    for s in accepted:
        h = where.get(tx_hash(txs[s.index]))
        if h is None or h not in commit_time:
            continue
        included += 1
        included_heights.add(h)
        lat.append(commit_time[h] - s.send_time)
    ok = included
    if check_codes and included_heights:
        ok = 0
        mine = {tx_hash(txs[s.index]) for s in accepted}
        for h in sorted(included_heights):
            codes = block_codes(rpc, h)
            ok += sum(1 for t, c in zip(blocks[h][1], codes, strict=False) if c == 0 and tx_hash(t) in mine)
    w0, w1 = t0 + warmup, t0 + duration
    in_window = sum(len(blocks[h][1]) for h in heights if h in commit_time and w0 <= commit_time[h] < w1)
    sizes = [len(blocks[h][1]) for h in heights]
    return StepResult(
        rate=rate,
        offered=len(sent),
        achieved_send_rate=achieved,
        accepted=len(accepted),
        rejected=len(rejected),
        rejected_sample=rejected[0].log if rejected else "",
        included=included,
        included_ok=ok,
        committed_in_window=in_window,
        window_s=w1 - w0,
        latencies=sorted(lat),
        cpu_s=cpu_s,
        blocks=len(heights),
        max_block_txs=max(sizes, default=0),
    )
