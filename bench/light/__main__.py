"""python -m bench.light [--blocks 1000] [--keys 100000] [--proofs 20000] [--query-seconds 5] [--smoke].

See the package docstring for what is measured. --blocks is at least 100. --smoke runs every phase
at its smallest (under half a minute), for CI: 40 blocks a stretch with 4 set switches instead of 10,
one run per catch-up instead of a median, and 0.3 s per query cell.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.client.light.client import DEFAULT_CHECKPOINT_INTERVAL
from bench.common import print_table, write_results
from bench.light import chain, headers, learning, proofs, queries, report
from bench.light.headers import CatchUp, MemorySource
from bench.light.report import HeaderResult, Scenario
from synod.tasks.v1.tx_pb2 import MsgPostTask

console = Console(stderr=True)

SEQUENTIAL_REPEATS = 3  # in memory; over RPC once (it is the slow one)
SKIPPING_REPEATS = 21  # a static-set jump takes milliseconds: the median of many
# Validator-set changes submitted: 1 before the rotating stretch, the rest (an odd number) in it.
ROTATIONS = 10
SMOKE_ROTATIONS = 4
PAIRS = (frozenset({0, 1}), frozenset({2, 3}))  # the rotating stretch alternates between them
CONCURRENCY = (1, 16)
QUERY_ROUNDS = 3  # backends take turns, so a change in the machine's background load hits them alike
QUERY_CLIENTS = (
    "clients, one per thread: /abci_query through CometRPC (one HTTP/1.1 connection, kept alive); "
    "gRPC through GrpcQueryClient (one HTTP/2 channel, kept open)"
)
# Blocks between set switches: a switch lands 3 blocks after its height is seen (its tx is in the
# next block, and takes effect at H+2), and the chain is polled every _POLL_S (~1 block).
MIN_STEP = 10
_POLL_S = 0.05
_BLOCKS_TIMEOUT_S = 600.0


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.light", description=__doc__)
    p.add_argument("--blocks", type=int, default=1000, help="headers the light client catches up")
    p.add_argument("--keys", type=int, default=100_000, help="keys in the SMT")
    p.add_argument("--proofs", type=int, default=20_000, help="proofs of each kind verified")
    p.add_argument("--query-seconds", type=float, default=5.0, help="seconds per query cell")
    p.add_argument("--accounts", type=int, default=1000, help="accounts funded for the deep-page table")
    p.add_argument("--keep", action="store_true", help="keep the network directories")
    p.add_argument("--smoke", action="store_true", help="every phase at its smallest, for CI")
    args = p.parse_args()
    args.rotations = SMOKE_ROTATIONS if args.smoke else ROTATIONS
    args.sequential_repeats = 1 if args.smoke else SEQUENTIAL_REPEATS
    args.skipping_repeats = 1 if args.smoke else SKIPPING_REPEATS
    if args.smoke:
        args.blocks, args.keys, args.proofs, args.query_seconds = SMOKE_ROTATIONS * MIN_STEP, 2_000, 200, 0.3
    if args.blocks < args.rotations * MIN_STEP:
        p.error(
            f"--blocks must be at least {args.rotations * MIN_STEP}: the rotating stretch switches sets "
            f"every blocks/{args.rotations}, and a switch takes a few blocks to land"
        )
    return args


def _scenarios(blocks: int, rotations: int) -> list[Scenario]:
    """Heights 1..1+N with all 4 validators; then N more whose set switches between two pairs.

    The rotating stretch starts one switch in (its anchor is signed by pair 0 alone) and ends after
    an odd number of switches, so no validator that signed its anchor signs its target: skipping
    cannot jump straight there and has to bisect.
    """
    static = Scenario("static", f"static, {chain.VALIDATORS} of {chain.VALIDATORS}", 1, 1 + blocks)
    start, step = static.target + 1, blocks // rotations
    flips = tuple((start + k * step, PAIRS[k % 2]) for k in range(rotations))
    return [static, Scenario("rotating", "rotating, 2 of 4", start + step, start + step + blocks, flips)]


@contextmanager
def _bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A transient progress bar (None: of unknown length); yields a function that sets how much is done."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as prog:
        task = prog.add_task(label, total=total)
        yield lambda done: prog.update(task, completed=done)


def _make_blocks(net: chain.KvstoreNet, height: int, flips: list[tuple[int, frozenset[int]]]) -> float:
    """Wait until the network has committed height, switching validator sets on the way; blocks/s."""
    start, deadline = time.monotonic(), time.monotonic() + _BLOCKS_TIMEOUT_S
    pending, nonce = list(flips), 0
    with _bar("kvstore network making blocks", height) as tick:
        while (now := net.height()) < height:
            net.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the kvstore network is at {now}, not {height}, after {_BLOCKS_TIMEOUT_S}s"
                )
            while pending and now >= pending[0][0]:
                nonce += 1
                net.set_validators(pending.pop(0)[1], nonce)
            tick(now)
            time.sleep(_POLL_S)
    return height / (time.monotonic() - start)


def _repeat(label: str, run: Callable[[], CatchUp], times: int) -> CatchUp:
    """The median of `times` runs, with a progress bar."""
    results = []
    with _bar(label, times) as tick:
        for i in range(times):
            results.append(run())
            tick(i + 1)
    return headers.median_catch_up(results)


def _over_rpc(
    net: chain.KvstoreNet, chain_id: str, sc: Scenario, skipping_repeats: int
) -> tuple[MemorySource, float, dict[str, CatchUp]]:
    """Prefetch the scenario's light blocks, then catch up end to end over RPC in both modes."""
    anchor_hash = bytes.fromhex(net.rpc.block(sc.anchor)["block_id"]["hash"])
    with _bar(f"{sc.name}: prefetching /commit + /validators", sc.blocks + 1) as tick:
        memory, fetch_s = headers.prefetch(net.rpc, sc.anchor, sc.target, tick)
    with _bar(f"{sc.name}: sequential catch-up over RPC", sc.blocks) as tick:
        seq = headers.catch_up(chain_id, net.rpc, sc.anchor, anchor_hash, sc.target, True, tick)
    skip = _repeat(
        f"{sc.name}: skipping catch-up over RPC",
        lambda: headers.catch_up(chain_id, net.rpc, sc.anchor, anchor_hash, sc.target, False),
        skipping_repeats,
    )
    return memory, fetch_s, {"rpc_sequential": seq, "rpc_skipping": skip}


def _in_memory(
    chain_id: str, sc: Scenario, memory: MemorySource, args: argparse.Namespace
) -> dict[str, CatchUp]:
    """Catch up from the prefetched answers in both modes."""
    anchor_hash = memory.block_hash(sc.anchor)
    runs = {}
    for mode, repeats in (("sequential", args.sequential_repeats), ("skipping", args.skipping_repeats)):
        sequential = mode == "sequential"
        runs[f"memory_{mode}"] = _repeat(
            f"{sc.name}: {mode} catch-up in memory",
            lambda s=sequential: headers.catch_up(chain_id, memory, sc.anchor, anchor_hash, sc.target, s),
            repeats,
        )
    return runs


def _headers(
    root: Path, args: argparse.Namespace
) -> tuple[list[HeaderResult], proofs.ProofSet, dict[str, Any]]:
    """Make the chain (building the SMT meanwhile), halt it, then time fetch and catch-ups."""
    scenarios = _scenarios(args.blocks, args.rotations)
    net = chain.KvstoreNet(root / "kvstore")
    console.print(f"kvstore network: {chain.VALIDATORS} validators on {net.base_ip}, in {net.directory}")
    fetched = []
    try:
        net.start()
        with _bar(f"SMT: inserting {args.keys:,} keys (while the chain grows)", args.keys) as tick:
            proof_set = proofs.build(args.keys, args.proofs, tick)
        flips = [f for sc in scenarios for f in sc.flips]
        block_rate = _make_blocks(net, scenarios[-1].target + 1, flips)  # commit(H) is final at H+1
        net.halt()
        info = {"chain_halted_at": net.height(), "chain_blocks_per_s": round(block_rate, 1)}
        chain_id = net.rpc.status()["node_info"]["network"]
        console.print(
            f"chain {chain_id} halted at height {info['chain_halted_at']} ({block_rate:.1f} blocks/s)"
        )
        for sc in scenarios:
            fetched.append((sc, *_over_rpc(net, chain_id, sc, args.skipping_repeats)))
    finally:
        net.stop()
    results = []
    for sc, memory, fetch_s, rpc_runs in fetched:
        at_anchor, at_target = memory.addresses(sc.anchor), memory.addresses(sc.target)
        sets = (len(at_anchor), len(at_target), len(at_anchor & at_target))
        runs = {**_in_memory(chain_id, sc, memory, args), **rpc_runs}
        results.append(HeaderResult(sc, fetch_s, runs, sets))
    return results, proof_set, info


def _queries(
    root: Path, seconds: float, accounts: int, task: Future[MsgPostTask]
) -> tuple[dict[tuple[str, int], queries.QueryRun], dict[str, Any], dict[str, Any]]:
    """Start a Synod node, run every backend at every concurrency, then the learning-state reads."""
    node = chain.SynodNode(root / "synod")
    console.print(f"Synod node in {node.home.root}; starting..")
    try:
        node.start()
        target = node.target()
        balance, proof_bytes = queries.check_answers(target)
        console.print(
            f"querying {target.address}: balance {balance} {target.denom}, proof {proof_bytes} bytes"
        )
        parts: dict[tuple[str, int], list[queries.QueryRun]] = {}
        for c in CONCURRENCY:
            for r in range(QUERY_ROUNDS):
                for b in queries.BACKENDS:
                    with _bar(f"{b.label}, concurrency {c}, round {r + 1}/{QUERY_ROUNDS}", None) as tick:
                        run = queries.measure(b.make, target, c, seconds / QUERY_ROUNDS, tick)
                    parts.setdefault((b.slug, c), []).append(run)
        learned = _learning_reads(node, seconds, accounts, task.result())
    finally:
        node.stop()
    info = {"query_address": target.address, "query_balance": balance, "store_proof_bytes": proof_bytes}
    return {k: queries.merge(v) for k, v in parts.items()}, info, learned


def _learning_reads(
    node: chain.SynodNode, seconds: float, accounts: int, task: MsgPostTask
) -> dict[str, Any]:
    """A 200k-parameter task and `accounts` accounts, then verified vs unverified reads and deep pages."""
    with _bar(f"posting a {learning.LARGE_ARCH} task and funding {accounts} accounts", accounts) as tick:
        target = learning.prepare(node, task, accounts, tick)
    with _bar("task rounds and checkpoint: unverified vs verified", None):
        reads = learning.measure_reads(node, target, seconds)
    with _bar("accounts list: page 1 vs page 1,000", None):
        pages = learning.measure_pages(node, target, seconds)
    return {"target": target, "reads": reads, "pages": pages}


def _settings(args: argparse.Namespace, info: dict[str, Any]) -> dict[str, Any]:
    """What the figures were taken with."""
    return {
        "blocks": args.blocks,
        "scenarios": {
            sc.name: {"label": sc.label, "anchor": sc.anchor, "target": sc.target}
            for sc in _scenarios(args.blocks, args.rotations)
        },
        "set_switches": args.rotations,
        "validators": chain.VALIDATORS,
        "app": "CometBFT kvstore (in-process, proxy_app = kvstore)",
        "timeout_commit": chain.TIMEOUT_COMMIT,
        "trusting_period_s": headers.TRUSTING_PERIOD_S,
        "sequential_repeats_memory": args.sequential_repeats,
        "skipping_repeats": args.skipping_repeats,
        "checkpoint_interval": DEFAULT_CHECKPOINT_INTERVAL,
        "smt_keys": args.keys,
        "smt_proofs_per_kind": args.proofs,
        "query_seconds_per_cell": args.query_seconds,
        "query_rounds_per_cell": QUERY_ROUNDS,
        "query_concurrency": list(CONCURRENCY),
        "query_clients": QUERY_CLIENTS,
        "query_backends": [b.label for b in queries.BACKENDS],
        **info,
    }


def _report(
    args: argparse.Namespace,
    header_results: list[HeaderResult],
    timings: dict[str, proofs.ProofTiming],
    query_results: dict[tuple[str, int], queries.QueryRun],
) -> dict[str, Any]:
    """Print the four tables; return their figures and rows for the results file."""
    h_cols, h_rows, h_figs = report.header_table(header_results)
    title = f"Light client: catch up {args.blocks:,} headers of a 4-node CometBFT chain (kvstore app)"
    print_table(title, h_cols, h_rows)
    notes = report.header_notes(header_results, args.sequential_repeats, args.skipping_repeats)
    print("\n".join(f"  {note}" for note in notes))
    r_rows, r_figs = report.header_ratios(header_results)
    print_table("Light client ratios", ["validator set", "ratio", "value"], r_rows)
    p_cols, p_rows, p_figs = report.proof_table(timings)
    print_table(f"SMT proof verification, tree of {args.keys:,} keys", p_cols, p_rows)
    q_cols, q_rows, q_figs = report.query_table(query_results, CONCURRENCY)
    q_title = (
        f"Balance queries against a Synod node, closed loop, {args.query_seconds:g} s per cell "
        f"in {QUERY_ROUNDS} interleaved rounds"
    )
    print_table(q_title, q_cols, q_rows)
    print(f"  {QUERY_CLIENTS}")
    return {
        **h_figs,
        **r_figs,
        **p_figs,
        **q_figs,
        "headers_table": {"columns": h_cols, "rows": h_rows, "notes": notes},
        "header_ratios_table": r_rows,
        "proofs_table": {"columns": p_cols, "rows": p_rows},
        "queries_table": {"columns": q_cols, "rows": q_rows},
    }


def _report_learning(learned: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Print the learning-state table; return its figures and rows."""
    target, reads, pages = learned["target"], learned["reads"], learned["pages"]
    rows = []
    for name, (plain, verified) in reads.items():
        what = (
            f"task rounds ({name})" if name == "rounds" else f"checkpoint, {target.parameters:,} parameters"
        )
        ratio = verified.per_s / plain.per_s if plain.per_s else 0.0
        rows.append([what, f"{plain.per_s:,.1f}", f"{plain.p50_ms:.2f}", f"{verified.per_s:,.1f}",
                     f"{verified.p50_ms:.2f}", f"{ratio:.3f}", f"{verified.header_s:.1f}"])  # fmt: skip
    columns = ["read (gRPC)", "unverified /s", "p50 ms", "verified /s", "p50 ms", "verified/unverified ratio",
               "header waits s"]  # fmt: skip
    print_table(f"Verified reads of learning state, closed loop, {seconds:g} s per cell", columns, rows)
    first, deep = pages
    page_rows = [["page 1", f"{first.per_s:,.1f}", f"{first.p50_ms:.2f}"],
                 ["page 1,000", f"{deep.per_s:,.1f}", f"{deep.p50_ms:.2f}"]]  # fmt: skip
    print_table(
        f"gRPC list pages, {target.accounts:,} funded accounts, one a page",
        ["page", "/s", "p50 ms"],
        page_rows,
    )
    print("  verified = proofs checked against header H+1's app hash and the answer re-derived; the wait for")
    print("  a new header (one light-client verification per block) is the last column, not in the rate")
    return {
        **learning.figures(reads, pages),
        "learning_table": {"columns": columns, "rows": rows},
        "pages_table": {"columns": ["page", "/s", "p50 ms"], "rows": page_rows},
        "checkpoint_parameters": target.parameters,
    }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Run the three phases, print the tables and write bench/results/light.json."""
    args = _parse()
    signal.signal(signal.SIGTERM, _interrupt)  # so the `finally`s stop the nodes we started
    started, load_at_start = time.monotonic(), os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="synod-bench-light-"))
    try:
        # The learning task's model is made (JAX: seconds) while the kvstore network makes blocks: in
        # a process, as importing JAX holds the GIL for long stretches and the main thread must see
        # each height to switch validator sets on time. A full run's block making outlasts it; a
        # smoke run may time its headers beside it.
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            task = pool.submit(learning.build_task)
            header_results, proof_set, chain_info = _headers(root, args)
            with _bar("SMT: verifying proofs", None):
                timings = proofs.time_verification(proof_set)
            query_results, query_info, learned = _queries(root, args.query_seconds, args.accounts, task)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    figures = _report(args, header_results, timings, query_results)
    figures.update(_report_learning(learned, args.query_seconds))
    elapsed = time.monotonic() - started
    path = write_results(
        "light-smoke" if args.smoke else "light",  # a smoke run never replaces the committed figures
        {
            **figures,
            "settings": _settings(args, {**chain_info, **query_info}),
            # The machine may be shared: a load well above its CPU count makes every figure slower.
            "load_average_1m": {"start": round(load_at_start, 2), "end": round(os.getloadavg()[0], 2)},
            "run_seconds": round(elapsed),
        },
    )
    console.print(f"wrote {path} in {elapsed:.0f} s")


if __name__ == "__main__":
    main()
