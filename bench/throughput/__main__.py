"""python -m bench.throughput [--rates 100,200,400,800] [--duration 20] | --profile-only (see __init__)."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from app.client.txbuilder import build_tx, msg_send
from app.core.coins import Coins
from app.core.crypto import PrivateKey, decode_address
from app.node import localnet as net
from bench.chain_core import Workload
from bench.common import print_table, write_results
from bench.throughput import network as nw
from bench.throughput.load import StepResult, collect, offer, tx_hash, wait_included
from bench.throughput.profile import profile

console = Console(stderr=True)


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__)
    p.add_argument("--rates", default="100,200,400,800", help="offered tx/s, comma separated")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load per rate")
    p.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds excluded from the window (default duration/5, at most 3)",
    )
    p.add_argument(
        "--drain",
        type=float,
        default=None,
        help="max seconds to wait for inclusion after the load (default max(15, duration))",
    )
    p.add_argument("--workers", type=int, default=64, help="sender threads")
    p.add_argument("--systems", default="ours,kvstore")
    p.add_argument("--profile-txs", type=int, default=1000)
    p.add_argument("--profile-repeats", type=int, default=5, help="the best repeat of each phase is kept")
    p.add_argument(
        "--profile-only",
        action="store_true",
        help="only the in-process profile (no localnet); writes bench/results/throughput-profile.json",
    )
    p.add_argument("--keep", action="store_true", help="keep the network directories")
    p.add_argument("--smoke", action="store_true", help="one low rate for a few seconds, for CI")
    args = p.parse_args()
    if args.smoke:
        args.rates, args.duration, args.profile_txs, args.profile_repeats = "50", 3.0, 100, 1
    return args


def _our_txs(keys: list[PrivateKey], numbers: dict[str, int], chain_id: str) -> list[bytes]:
    out = []
    for key in keys:
        recipient = PrivateKey.from_seed(tx_hash(b"to" + key.seed)).address
        out.append(
            build_tx(
                key,
                [msg_send(key.address, recipient, Coins.of([("usyn", 1000)]))],
                chain_id=chain_id,
                account_number=numbers[key.address],
                sequence=0,
                fee=Coins.of([("usyn", 200_000)]),
            )
        )
    return out


def _kv_txs(sizes: list[int]) -> list[bytes]:
    out = []
    for i, size in enumerate(sizes):
        key = b"bench%08d=" % i
        out.append(key + b"v" * max(size - len(key), 1))
    return out


def _run_system(
    net: nw._Net,
    txs_by_rate: list[tuple[float, list[bytes]]],
    args: argparse.Namespace,
    stop: threading.Event,
    check_codes: bool,
) -> list[StepResult]:
    results = []
    console.print(f"[bold]{net.name}[/]: starting 4 nodes on {net.spec.base_ip}..")
    net.start()
    net.wait_ready()
    console.print(f"[bold]{net.name}[/]: producing blocks (height {net.height()})")
    warmup = args.warmup if args.warmup is not None else min(3.0, args.duration / 5)
    drain = args.drain if args.drain is not None else max(15.0, args.duration)
    for rate, txs in txs_by_rate:
        start_height = net.height() + 1
        cpu0, gen0 = net.cpu_seconds(), os.times()
        with Progress(
            TextColumn(f"{net.name} @ {rate:g} tx/s"),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as prog:
            task = prog.add_task("sending", total=len(txs))
            n_txs = len(txs)
            sent, t0, achieved = offer(
                txs,
                net.hosts,
                rate,
                args.workers,
                stop,
                on_tick=lambda k, task=task, n=n_txs: prog.update(
                    task, completed=k, description=f"sent {k}/{n}"
                ),
            )
            accepted = {tx_hash(txs[s.index]) for s in sent if s.code == 0}
            prog.update(task, completed=0, total=max(len(accepted), 1), description="waiting for inclusion")
            n_acc = len(accepted)
            blocks, last = wait_included(
                net.rpc[0],
                start_height,
                accepted,
                drain,
                stop,
                on_tick=lambda k, h, task=task, n=n_acc: prog.update(
                    task, completed=k, description=f"included {k}/{n} (height {h})"
                ),
            )
        cpu1, gen1 = net.cpu_seconds(), os.times()
        cpu_app = cpu1["app"] - cpu0["app"]
        cpu_s = cpu_app + cpu1["cometbft"] - cpu0["cometbft"]
        gen_s = (gen1.user + gen1.system) - (gen0.user + gen0.system)
        net.check_alive()
        r = collect(
            net.rpc[0], rate, txs, sent, t0, achieved, args.duration, warmup, blocks, cpu_s, check_codes
        )
        r.cpu_app_s, r.loadgen_cpu_s = cpu_app, gen_s
        results.append(r)
        console.print(
            f"  {net.name} @ {rate:g}/s: sent {r.achieved_send_rate:.0f}/s, "
            f"accepted {r.accepted}/{r.offered}, "
            f"included {r.included} (ok {r.included_ok}), committed {r.committed_tps:.0f} tx/s, "
            f"p50 {_fmt(r.pct(50))} s, p99 {_fmt(r.pct(99))} s, CPU {cpu_s:.1f} s (app {cpu_app:.1f} s), "
            f"load generator CPU {gen_s:.1f} s"
            + (f"; rejected e.g. {r.rejected_sample!r}" if r.rejected else "")
        )
        if stop.is_set():
            break
    return results


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _row(system: str, r: StepResult) -> list[Any]:
    committed = max(r.included_ok, 1)
    return [
        system,
        f"{r.rate:g}",
        f"{r.achieved_send_rate:.0f}",
        f"{r.accepted}/{r.offered}",
        f"{r.committed_tps:.0f}",
        f"{100 * r.included / max(r.accepted, 1):.0f}%",
        _fmt(r.pct(50)),
        _fmt(r.pct(99)),
        f"{1e3 * r.cpu_s / committed:.2f}",
        f"{100 * r.cpu_app_s / max(r.cpu_s, 1e-9):.0f}%",
        r.max_block_txs,
    ]


def _figures(r: StepResult) -> dict[str, Any]:
    return {
        "rate_offered_tx_per_s": r.rate,
        "send_rate_achieved_tx_per_s": round(r.achieved_send_rate, 1),
        "offered": r.offered,
        "accepted": r.accepted,
        "rejected": r.rejected,
        "rejected_sample": r.rejected_sample,
        "included": r.included,
        "included_ok": r.included_ok,
        "committed_tx_per_s": round(r.committed_tps, 1),
        "window_s": round(r.window_s, 2),
        "latency_p50_s": None if r.pct(50) is None else round(r.pct(50), 3),
        "latency_p99_s": None if r.pct(99) is None else round(r.pct(99), 3),
        "cpu_s": round(r.cpu_s, 2),
        "cpu_app_s": round(r.cpu_app_s, 2),
        "cpu_cometbft_s": round(r.cpu_s - r.cpu_app_s, 2),
        "loadgen_cpu_s": round(r.loadgen_cpu_s, 2),
        "cpu_s_per_committed_tx": round(r.cpu_s / max(r.included_ok, 1), 5),
        "blocks": r.blocks,
        "max_block_txs": r.max_block_txs,
    }


def _profile(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run and print the in-process profile; its figures and tables for the results file."""
    console.print(f"profiling {args.profile_txs} sends in-process, best of {args.profile_repeats}..")
    prof_rows, prof_figs, hot = profile(args.profile_txs, args.profile_repeats)
    prof_cols = ["stage", "total ms", "us/tx", "share"]
    print_table(
        f"Where our time goes (in-process, {args.profile_txs} MsgSends, one core)", prof_cols, prof_rows
    )
    hot_cols = ["function (cold FinalizeBlock under cProfile)", "calls", "own ms", "cumulative ms"]
    print_table("Hottest functions in a cold FinalizeBlock", hot_cols, hot)
    tables = {"profile_table": {"columns": prof_cols, "rows": prof_rows}, "profile_hot_functions": hot}
    return prof_figs, tables


def _profile_only(args: argparse.Namespace) -> None:
    """--profile-only: no localnet, so it can run beside other work (timings are best-of-repeats)."""
    started = time.monotonic()
    figures, tables = _profile(args)
    name = "throughput-profile-smoke" if args.smoke else "throughput-profile"
    path = write_results(name, {**figures, **tables, "run_seconds": round(time.monotonic() - started)})
    console.print(f"wrote {path}")


def main() -> None:
    args = _parse()
    if args.profile_only:
        _profile_only(args)
        return
    rates = [float(x) for x in args.rates.split(",") if x]
    systems = [s for s in args.systems.split(",") if s]
    started = time.monotonic()
    stop = threading.Event()

    def on_term(signum: int, frame: object) -> None:
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    counts = [math.ceil(r * args.duration) for r in rates]
    total = sum(counts)
    console.print(f"pre-signing {total} MsgSends from {total} distinct funded senders..")
    keys = Workload(total).keys
    root = Path(tempfile.mkdtemp(prefix="synod-throughput-"))
    nets: list[nw._Net] = []
    results: dict[str, list[StepResult]] = {}
    try:
        base_ip = net.find_free_base_ip(root / "ours", nw.VALIDATORS)
        spec, kv_dir, addresses = nw.prepare(root, base_ip, [k.address for k in keys])
        # Genesis creates accounts in address order: account numbers are the sorted positions.
        numbers = {a: n for n, a in enumerate(sorted(addresses, key=decode_address))}
        ours_txs = _our_txs(keys, numbers, spec.chain_id)
        kv_txs = _kv_txs([len(t) for t in ours_txs])
        console.print(f"tx size {len(ours_txs[0])} bytes (kvstore txs padded to the same); network in {root}")

        def by_rate(txs: list[bytes]) -> list[tuple[float, list[bytes]]]:
            out, at = [], 0
            for rate, n in zip(rates, counts, strict=True):
                out.append((rate, txs[at : at + n]))
                at += n
            return out

        for system in systems:
            if stop.is_set():
                break
            network = nw.OursNet(spec) if system == "ours" else nw.KvNet(nw.kv_spec(spec, kv_dir))
            nets.append(network)
            try:
                results[system] = _run_system(
                    network, by_rate(ours_txs if system == "ours" else kv_txs), args, stop, check_codes=True
                )
            finally:
                console.print(f"{system}: stopping..")
                network.stop()
    except KeyboardInterrupt:
        stop.set()
        console.print("[red]interrupted: tearing down[/]")
    finally:
        for network in nets:
            network.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if stop.is_set() and not results:
        sys.exit(130)

    columns = [
        "system",
        "offered tx/s",
        "sent tx/s",
        "accepted",
        "committed tx/s",
        "included",
        "p50 latency s",
        "p99 latency s",
        "CPU ms/tx",
        "app share of CPU",
        "max txs/block",
    ]
    rows = [_row(s, r) for s in systems for r in results.get(s, [])]
    print_table(
        "Throughput, 4-validator localnet (open-loop paced load over broadcast_tx_sync)", columns, rows
    )
    ratio_rows, ratios = [], {}
    for o, k in zip(results.get("ours", []), results.get("kvstore", []), strict=False):
        ratio = o.committed_tps / k.committed_tps if k.committed_tps else None
        ratios[f"committed_throughput_ratio_ours_over_kvstore_at_{o.rate:g}"] = (
            None if ratio is None else round(ratio, 3)
        )
        cpu = (o.cpu_s / max(o.included_ok, 1)) / (k.cpu_s / max(k.included_ok, 1)) if k.cpu_s else None
        ratios[f"cpu_per_tx_ratio_ours_over_kvstore_at_{o.rate:g}"] = None if cpu is None else round(cpu, 2)
        ratio_rows.append(
            [f"{o.rate:g}", f"{o.committed_tps:.0f}", f"{k.committed_tps:.0f}", _fmt(ratio), _fmt(cpu, 1)]
        )
    if ratio_rows:
        print_table(
            "Ours / kvstore",
            [
                "offered tx/s",
                "ours committed tx/s",
                "kvstore committed tx/s",
                "throughput ratio",
                "CPU/tx ratio",
            ],
            ratio_rows,
        )
    prof_figs, prof_tables = _profile(args)

    best = {s: max((r.committed_tps for r in results.get(s, [])), default=0.0) for s in systems}
    headline = {
        "max_committed_tx_per_s_ours": round(best.get("ours", 0.0), 1),
        "max_committed_tx_per_s_kvstore": round(best.get("kvstore", 0.0), 1),
        "committed_throughput_ratio_ours_over_kvstore": (
            round(best["ours"] / best["kvstore"], 3) if best.get("kvstore") and "ours" in best else None
        ),
    }
    elapsed = time.monotonic() - started
    path = write_results(
        "throughput-smoke" if args.smoke else "throughput",  # a smoke run keeps the committed figures
        {
            **headline,
            **ratios,
            **prof_figs,
            "settings": {
                "rates": rates,
                "duration_s": args.duration,
                "workers": args.workers,
                "validators": nw.VALIDATORS,
                "timeout_commit": spec.timeout_commit,
                "tx_bytes": len(ours_txs[0]),
                "interrupted": stop.is_set(),
                "latency": "send wall time -> BFT time of the next block header (commit of the tx's block)",
                "cpus_shared_by_nodes_and_load_generator": os.cpu_count(),
                "cpu": "utime+stime of all node processes (app + cometbft) from step start to end of drain",
            },
            "steps": {s: [_figures(r) for r in results.get(s, [])] for s in systems},
            "table": {"columns": columns, "rows": rows},
            "ratio_table": ratio_rows,
            **prof_tables,
            "run_seconds": round(elapsed),
        },
    )
    console.print(f"wrote {path} in {elapsed:.0f} s")


if __name__ == "__main__":
    main()
