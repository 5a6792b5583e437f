"""Chain-core costs: FinalizeBlock + Commit for blocks of 0/100/1000 sends, and CheckTx rate.

    python -m bench.chain_core [--smoke]

Side by side in one run: our app over the ABCI socket against CometBFT's own kvstore app
(`abci-cli kvstore`) driven by the same Python socket client, plus our app in-process (no socket)
with the time split into FinalizeBlock and Commit. kvstore's txs are `key=value`; ours are signed
MsgSends (signature check, fee, two balance updates, sequence bump, Merkle root).
Writes bench/results/chain_core.json. --smoke runs all three set-ups, servers included, on blocks of
0 and 10 sends once each and 20 CheckTx (a few seconds), and writes chain_core-smoke.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from app.abci.framing import FrameDecoder, encode_frame
from app.app import SynodApp
from app.client.txbuilder import build_tx, msg_send
from app.core.coins import Coins
from app.core.crypto import PrivateKey, decode_address
from app.node.toolchain import find_binary
from app.state.backend import LevelDBBackend
from bench.common import print_table, write_results
from tendermint.abci import types_pb2 as abci

__all__ = ["main"]

CHAIN_ID = "bench"


@dataclass(frozen=True)
class Sizes:
    """The workload: block sizes in sends, blocks timed per size (the median is kept), CheckTx burst."""

    block_sizes: tuple[int, ...]
    repeats: int
    checktx_count: int

    @property
    def senders(self) -> int:
        """Return how many funded senders the workload needs, each used once."""
        return 2 * max(self.block_sizes) * self.repeats + self.checktx_count


FULL = Sizes(block_sizes=(0, 100, 1000), repeats=3, checktx_count=2000)
SMOKE = Sizes(block_sizes=(0, 10), repeats=1, checktx_count=20)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Workload:
    """Funded senders, each used once, so every tx is valid whatever order blocks come in."""

    def __init__(self, count: int) -> None:
        self.keys = [PrivateKey.from_seed(hashlib.sha256(b"bench%d" % i).digest()) for i in range(count)]
        ordered = sorted(self.keys, key=lambda k: decode_address(k.address))
        # Genesis creates accounts in address order, so account numbers are the sorted positions.
        self.numbers = {k.address: n for n, k in enumerate(ordered)}
        self.next = 0

    def app_state(self) -> bytes:
        balances = [
            {"address": k.address, "coins": [{"denom": "usyn", "amount": "10000000"}]} for k in self.keys
        ]
        return json.dumps({"bank": {"balances": balances}}).encode()

    def txs(self, n: int) -> list[bytes]:
        out = []
        for key in self.keys[self.next : self.next + n]:
            recipient = PrivateKey.from_seed(hashlib.sha256(b"to" + key.seed).digest()).address
            out.append(
                build_tx(
                    key,
                    [msg_send(key.address, recipient, Coins.of([("usyn", 1000)]))],
                    chain_id=CHAIN_ID,
                    account_number=self.numbers[key.address],
                    sequence=0,
                    fee=Coins.of([("usyn", 200_000)]),
                )
            )
        self.next += n
        return out


class SocketClient:
    """A minimal ABCI socket client (what CometBFT's socket client does, synchronously)."""

    def __init__(self, port: int) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.decoder = FrameDecoder()

    def call(self, requests: list[abci.Request]) -> list[abci.Response]:
        """Send requests + Flush in one write; read until the Flush answer."""
        payload = b"".join(encode_frame(r.SerializeToString()) for r in requests)
        self.sock.sendall(payload + encode_frame(abci.Request(flush=abci.RequestFlush()).SerializeToString()))
        responses: list[abci.Response] = []
        while len(responses) < len(requests) + 1:
            for frame in self.decoder.feed(self.sock.recv(1 << 20)):
                responses.append(abci.Response.FromString(frame))
        return responses[:-1]


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _socket_run(
    client: SocketClient, app_state: bytes, blocks: dict[int, list[list[bytes]]], checktxs: list[bytes]
) -> dict:
    """Drive one ABCI server: InitChain, then blocks of each size, then a CheckTx burst."""
    client.call(
        [
            abci.Request(
                init_chain=abci.RequestInitChain(
                    chain_id=CHAIN_ID, app_state_bytes=app_state, initial_height=1
                )
            )
        ]
    )
    height = 0
    out: dict = {}
    for size, repeats in blocks.items():
        times = []
        for txs in repeats:
            height += 1
            req = abci.RequestFinalizeBlock(
                height=height, txs=txs, time=Timestamp(seconds=1_700_000_000 + height)
            )
            start = time.perf_counter()
            answers = client.call(
                [abci.Request(finalize_block=req), abci.Request(commit=abci.RequestCommit())]
            )
            times.append(time.perf_counter() - start)
            _check_accepted(answers[0].finalize_block.tx_results)
        out[size] = statistics.median(times)
    start = time.perf_counter()
    answers = client.call([abci.Request(check_tx=abci.RequestCheckTx(tx=t)) for t in checktxs])
    out["checktx_per_s"] = len(checktxs) / (time.perf_counter() - start)
    _check_accepted([a.check_tx for a in answers])
    return out


def _check_accepted(results: Sequence[abci.ExecTxResult | abci.ResponseCheckTx]) -> None:
    """Fail with the first refusal's log unless every tx was accepted (a refused tx times nothing)."""
    assert all(r.code == 0 for r in results), [r.log for r in results if r.code][:1]


def _inprocess(work: Workload, blocks: dict[int, list[list[bytes]]], checktxs: list[bytes]) -> dict:
    """Our app without the socket: FinalizeBlock and Commit timed separately."""
    with tempfile.TemporaryDirectory() as d:
        backend = LevelDBBackend(d)
        app = SynodApp(backend)
        app.init_chain(CHAIN_ID, work.app_state(), 1)  # (app hash, validators) unused
        height, out = 0, {}
        for size, repeats in blocks.items():
            fin, com = [], []
            for txs in repeats:
                height += 1
                start = time.perf_counter()
                result = app.finalize_block(height, txs, 1_700_000_000 + height)
                fin.append(time.perf_counter() - start)
                assert all(r.code == 0 for r in result.tx_results), [
                    r.log for r in result.tx_results if r.code
                ][:1]
                com.append(_timed(app.commit))
            out[size] = (statistics.median(fin), statistics.median(com))
        start = time.perf_counter()
        results = [app.check_tx(t) for t in checktxs]
        out["checktx_per_s"] = len(checktxs) / (time.perf_counter() - start)
        assert all(r.code == 0 for r in results)
        backend.close()
    return out


def _serve(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _parse() -> argparse.Namespace:
    """Return the command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench.chain_core", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="blocks of 0 and 10 sends and 20 CheckTx, for CI")
    return p.parse_args()


def main() -> None:
    """Run all three set-ups on identical workloads and print one table."""
    smoke = _parse().smoke
    sizes = SMOKE if smoke else FULL
    work = Workload(sizes.senders)
    blocks = {n: [work.txs(n) for _ in range(sizes.repeats)] for n in sizes.block_sizes}
    checktxs = work.txs(sizes.checktx_count)
    print(
        f"workload: {sizes.senders} funded senders, blocks of {sizes.block_sizes} sends x {sizes.repeats}, "
        f"{sizes.checktx_count} CheckTx",
        file=sys.stderr,
    )
    inproc = _inprocess(work, blocks, checktxs)

    ours_port, kv_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory() as d:
        ours = _serve(
            [sys.executable, "-m", "app.abci", "--db", d, "--address", f"tcp://127.0.0.1:{ours_port}"]
        )
        kv = _serve([find_binary("abci-cli"), "kvstore", "--address", f"tcp://127.0.0.1:{kv_port}"])
        try:
            socket_ours = _socket_run(SocketClient(ours_port), work.app_state(), blocks, checktxs)
            kv_blocks = {
                n: [[b"k%d-%d=v" % (r, i) for i in range(n)] for r in range(sizes.repeats)]
                for n in sizes.block_sizes
            }
            kv_checktx = [b"c%d=v" % i for i in range(sizes.checktx_count)]
            socket_kv = _socket_run(SocketClient(kv_port), b"", kv_blocks, kv_checktx)
        finally:
            for p in (ours, kv):
                p.terminate()
                p.wait()

    rows, results = [], {"block_sizes": list(sizes.block_sizes), "repeats": sizes.repeats, "smoke": smoke}
    for n in sizes.block_sizes:
        fin, com = inproc[n]
        rows.append(
            [
                f"FinalizeBlock+Commit, {n} txs (ms)",
                f"{(fin + com) * 1e3:.1f}",
                f"{fin * 1e3:.1f} + {com * 1e3:.1f}",
                f"{socket_ours[n] * 1e3:.1f}",
                f"{socket_kv[n] * 1e3:.1f}",
                f"{socket_ours[n] / socket_kv[n]:.1f}",
            ]
        )
        results[f"inprocess_finalize_ms_{n}"] = round(fin * 1e3, 2)
        results[f"inprocess_commit_ms_{n}"] = round(com * 1e3, 2)
        results[f"socket_finalize_commit_ms_{n}"] = round(socket_ours[n] * 1e3, 2)
        results[f"kvstore_finalize_commit_ms_{n}"] = round(socket_kv[n] * 1e3, 2)
        results[f"finalize_commit_ratio_ours_over_kvstore_{n}"] = round(socket_ours[n] / socket_kv[n], 2)
    rows.append(
        [
            "CheckTx (tx/s)",
            f"{inproc['checktx_per_s']:.0f}",
            "",
            f"{socket_ours['checktx_per_s']:.0f}",
            f"{socket_kv['checktx_per_s']:.0f}",
            f"{socket_kv['checktx_per_s'] / socket_ours['checktx_per_s']:.1f}",
        ]
    )
    results["inprocess_checktx_per_s"] = round(inproc["checktx_per_s"])
    results["socket_checktx_per_s"] = round(socket_ours["checktx_per_s"])
    results["kvstore_checktx_per_s"] = round(socket_kv["checktx_per_s"])
    results["checktx_ratio_ours_over_kvstore"] = round(
        socket_ours["checktx_per_s"] / socket_kv["checktx_per_s"], 3
    )
    print_table(
        "Synod chain core vs CometBFT kvstore (same socket client)",
        ["measure", "ours in-process", "finalize + commit", "ours socket", "kvstore socket", "slowdown x"],
        rows,
    )
    # A smoke run keeps the committed figures.
    path = write_results("chain_core-smoke" if smoke else "chain_core", {**results, "table": rows})
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
