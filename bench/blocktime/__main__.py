"""python -m bench.blocktime [--values 100ms,200ms,300ms,500ms,1s] [--blocks 30] [--txs 10] [--smoke].

How the localnet's `timeout_commit` sets its pace. For each value: a fresh 4-validator localnet (the
one `synod localnet up` and the demo start), then
- seconds per block over --blocks blocks, idle;
- the CPU the four nodes (app and CometBFT in one process each) burn per second and per block
  while idle: an empty block still costs consensus rounds, votes, BLS shares and a commit;
- the latency of one bank send from broadcast to its committed block, over --txs sends in turn.

An FL round that closes early takes about 4 blocks (commit, reveal, and the blocks between), so
the block interval is the floor of round time; what a shorter interval costs is the idle CPU.
`timeout_propose` (2 s) stays above the slowest PrepareProposal and is not swept: it only matters
when a proposer is slow or down. --smoke runs one value over a few blocks, for CI, and writes
bench/results/blocktime-smoke.json instead of blocktime.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from app.client.rpc import CometRPC
from app.client.txbuilder import msg_send
from app.core.coins import Coins
from app.demo import chain as demo_chain
from app.node import localnet as net
from bench.common import print_table, write_results

console = Console(stderr=True)
COLUMNS = [
    "timeout_commit",
    "s/block",
    "node CPU % of a core (idle, 4 nodes)",
    "CPU ms/block",
    "send p50 s",
    "send max s",
]
_TICKS = os.sysconf("SC_CLK_TCK")


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.blocktime", description=__doc__)
    p.add_argument("--values", default="100ms,200ms,300ms,500ms,1s", help="timeout_commit values to sweep")
    p.add_argument("--blocks", type=int, default=30, help="blocks timed per value")
    p.add_argument("--txs", type=int, default=10, help="bank sends timed per value")
    p.add_argument("--smoke", action="store_true", help="one value, a few blocks and sends: for CI")
    args = p.parse_args()
    if args.smoke:
        args.values, args.blocks, args.txs = "300ms", 4, 2
    return args


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes and their waited-for children have used."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / _TICKS


def _measure(directory: Path, value: str, blocks: int, txs: int) -> list[Any]:
    """One row: a fresh localnet at timeout_commit=value, timed idle and then under single sends."""
    spec = demo_chain.start_localnet(directory, 4, timeout_commit=value)
    try:
        rpc = CometRPC(demo_chain.rpc_url(spec, 0))
        demo_chain.measure_block_seconds(rpc, blocks=2)  # let start-up settle
        pids = list(net.running_nodes(spec.directory).values())
        cpu0, wall0 = _cpu_seconds(pids), time.monotonic()
        per_block = demo_chain.measure_block_seconds(rpc, blocks=blocks)
        cpu = (_cpu_seconds(pids) - cpu0) / (time.monotonic() - wall0)
        sender = demo_chain.validator_sender(spec, 0)
        latencies = []
        for i in range(txs):
            msg = msg_send(sender.key.address, sender.key.address, Coins.of([("usyn", 1 + i)]))
            started = time.monotonic()
            sender.send([msg], timeout=60)
            latencies.append(time.monotonic() - started)
    finally:
        net.down(spec.directory)
    return [
        value,
        round(per_block, 3),
        round(100 * cpu, 1),
        round(1000 * cpu * per_block, 1),
        round(statistics.median(latencies), 3),
        round(max(latencies), 3),
    ]


def main() -> None:
    """Sweep the values, print the table, save the figures."""
    args = _parse()
    values = [v.strip() for v in args.values.split(",") if v.strip()]
    root = Path(tempfile.mkdtemp(prefix="synod-bench-blocktime-"))
    rows = []
    try:
        for i, value in enumerate(values):
            console.print(
                f"[{i + 1}/{len(values)}] timeout_commit {value}: "
                f"localnet, {args.blocks} blocks, {args.txs} sends"
            )
            rows.append(_measure(root / f"net{i}", value, args.blocks, args.txs))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print_table("Localnet pace by timeout_commit (4 validators, this machine)", COLUMNS, rows)
    path = write_results(
        "blocktime-smoke" if args.smoke else "blocktime",
        {
            "columns": COLUMNS,
            "rows": rows,
            "settings": {"blocks": args.blocks, "txs": args.txs, "smoke": args.smoke},
        },
    )
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
