"""python -m bench.faults [--repeat 3] [--seed N] [--rate 6] [--smoke] [--no-learning] (see README.md)."""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from app.client.keyring import Keyring
from app.client.rpc import CometRPC, RpcError
from app.core.coins import Coins
from app.core.crypto import PrivateKey
from app.demo import chain as demo_chain
from app.node import localnet as net
from bench.common import print_table, write_results
from bench.faults import workload as wl
from bench.faults.campaign import KINDS, Campaign, Outcome, write_log_tails
from bench.faults.checks import Checker
from bench.faults.load import BankLoad
from bench.faults.netns import FaultNet, NetSetupError, check_tools
from bench.faults.report import markdown, summarize

_STARTED = time.monotonic()
COLUMNS = [
    "perturbation",
    "count",
    "recovered",
    "mean recover s",
    "max recover s",
    "lost txs",
    "forks",
    "broken invariants",
    "unindexed txs",
]


def log(message: str) -> None:
    """One progress line: wall clock, seconds since start, message."""
    print(f"[{datetime.now():%H:%M:%S} +{time.monotonic() - _STARTED:6.1f}s] {message}", flush=True)


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    p.add_argument("--repeat", type=int, default=3, help="times each perturbation runs")
    p.add_argument("--seed", type=int, default=None, help="RNG seed (default: random, printed)")
    p.add_argument("--rate", type=float, default=6.0, help="bank sends per second, in total")
    p.add_argument("--accounts", type=int, default=4, help="bank load accounts")
    p.add_argument("--min-duration", type=float, default=6.0, help="shortest perturbation, seconds")
    p.add_argument("--max-duration", type=float, default=15.0, help="longest perturbation, seconds")
    p.add_argument("--gap", type=float, default=8.0, help="longest random pause between perturbations")
    p.add_argument(
        "--halt-seconds", type=float, default=10.0, help="with 2 of 4 down: how long no block may come"
    )
    p.add_argument("--recover-timeout", type=float, default=180.0)
    p.add_argument("--rounds", type=int, default=12, help="FL task rounds")
    p.add_argument(
        "--no-learning", action="store_true", help="bank load only: no FL task, committee or query"
    )
    p.add_argument("--keep", action="store_true", help="keep the localnet directory")
    p.add_argument("--smoke", action="store_true", help="each perturbation once, short, bank load only")
    args = p.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**31)
    if args.smoke:
        args.repeat, args.min_duration, args.max_duration, args.gap = 1, 2.0, 3.0, 0.5
        args.halt_seconds, args.recover_timeout, args.no_learning, args.rate, args.accounts = (
            3.0,
            60.0,
            True,
            4.0,
            2,
        )
    return args


def _wait_blocks(rpcs: list[CometRPC], height: int, timeout: float) -> None:
    """Until every node has committed height."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if all(int(r.status()["sync_info"]["latest_block_height"]) >= height for r in rpcs):
                return
        except RpcError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the localnet did not reach height {height} within {timeout:.0f} s")
        time.sleep(0.3)


def _genesis(spec: net.LocalnetSpec) -> tuple[int, list[str]]:
    """(genesis usyn supply, every genesis account) from node0's genesis."""
    doc = json.loads(net.node_home(spec.directory, 0).genesis.read_text())
    balances = doc["app_state"]["bank"]["balances"]
    supply = sum(int(c["amount"]) for b in balances for c in b["coins"] if c["denom"] == "usyn")
    return supply, [b["address"] for b in balances]


def main() -> None:  # noqa: PLR0915 - one linear script: set up, run, report, tear down
    args = _parse()
    try:
        check_tools()
    except NetSetupError as e:
        sys.exit(f"bench.faults: {e}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rng = random.Random(args.seed)
    log(f"seed {args.seed} (rerun with --seed {args.seed}); repeat {args.repeat}; load {args.rate:g} tx/s")
    root = Path(tempfile.mkdtemp(prefix="synod-faults-"))
    fnet = FaultNet(4)
    campaign: Campaign | None = None
    agents = wl.Agents(root)
    load: BankLoad | None = None
    outcomes: list[Outcome] = []
    final: dict[str, Any] = {}
    failed = False
    try:
        fnet.setup()
        log(f"network namespaces up; slow link: {fnet.slow_description()}")
        spec = net.generate(net.LocalnetSpec(validators=4, directory=root / "run", base_ip=fnet.base_ip()))
        for i in range(spec.validators):
            net.start_node(spec.directory, i, launcher=fnet.launcher(i))
        rpcs = [CometRPC(net.rpc_address(spec, i), timeout=5) for i in range(spec.validators)]
        _wait_blocks(rpcs, 2, 180)
        log(f"localnet up in {root / 'run'}")
        keys = [
            PrivateKey.from_seed(hashlib.sha256(b"faults-load-%d-%d" % (args.seed, i)).digest())
            for i in range(args.accounts)
        ]
        keys_home = root / "agents"
        keyring = Keyring(keys_home)
        workers, predictors = (0, 0) if args.no_learning else (3, 3)
        agent_addrs = [keyring.add(f"w{i}")[0].address for i in range(workers)]
        agent_addrs += [keyring.add(f"p{i}")[0].address for i in range(predictors)]
        sender = demo_chain.validator_sender(spec, 0)
        demo_chain.fund(sender, [k.address for k in keys] + agent_addrs, Coins.of([("usyn", 10**8)]))
        log(f"funded {len(keys)} load accounts and {len(agent_addrs)} agents")
        task_id = query_id = None
        if not args.no_learning:
            task_id = wl.post_task(spec, args.rounds, workers)
            query_id = wl.post_query(spec, predictors)
            wl.start_agents(agents, spec, keys_home, task_id, query_id, workers, predictors)
            log(
                f"FL task {task_id} ({args.rounds} rounds, {workers} workers, 4 committee members), "
                f"prediction query {query_id} ({predictors} predictors)"
            )
        supply, genesis_accounts = _genesis(spec)
        checker = Checker(rpcs, supply, genesis_accounts + [k.address for k in keys] + agent_addrs)
        load = BankLoad(
            [demo_chain.rpc_url(spec, i) for i in range(spec.validators)],
            keys,
            spec.chain_id,
            args.rate,
            args.seed,
        )
        load.start()
        campaign = Campaign(
            spec,
            fnet,
            checker,
            load,
            log,
            (args.min_duration, args.max_duration),
            args.halt_seconds,
            args.recover_timeout,
        )
        time.sleep(2 if args.smoke else 10)
        first = checker.check(load.committed())
        log(f"baseline check at height {first.height}: ok={first.ok}")
        schedule = [k for k in KINDS for _ in range(args.repeat)]
        rng.shuffle(schedule)
        log(f"schedule: {', '.join(schedule)}")
        for n, kind in enumerate(schedule, 1):
            time.sleep(rng.uniform(0, args.gap))
            log(f"[{n}/{len(schedule)}]")
            outcomes.append(campaign.run_one(kind, rng))
            if agents.failed():
                log(f"  agents exited with errors: {sorted(agents.failed())}")
        final = _finish(args, spec, rpcs, load, checker, agents, task_id, query_id)
    except KeyboardInterrupt:
        log("interrupted: tearing down")
        failed = True
    except Exception as e:  # report what broke, then tear everything down
        log(f"FAILED: {type(e).__name__}: {e}")
        final["error"] = f"{type(e).__name__}: {e}"
        if (root / "run").exists() and net.is_generated(root / "run"):
            final["log_tails"] = write_log_tails(root / "run")
        failed = True
    finally:
        if load is not None:
            load.stop()
        if campaign is not None:
            campaign.resume_all()
        agents.stop_all()
        if (root / "run").exists() and net.is_generated(root / "run"):
            net.down(root / "run")
        fnet.teardown()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        log("localnet down, namespaces and tc rules removed")
    _report(args, fnet, outcomes, final)
    if failed or not final.get("ok"):
        sys.exit(1)


def _finish(args, spec, rpcs, load, checker, agents, task_id, query_id) -> dict[str, Any]:
    """Wait for the learning to end, stop the load, and run the full checks."""
    out: dict[str, Any] = {}
    if task_id is not None:
        log("waiting for the FL task to finish and the query to settle")
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            try:
                if wl.task_finished(rpcs[0], task_id) and wl.query_settled(rpcs[0], query_id):
                    break
            except RpcError:
                pass
            time.sleep(2)
        _wait_blocks(rpcs, max(int(r.status()["sync_info"]["latest_block_height"]) for r in rpcs) + 1, 60)
        hashes = wl.final_model_hashes(rpcs, task_id)
        answers = wl.settlements(rpcs, query_id)
        out["task_finished"] = all(wl.task_finished(r, task_id) for r in rpcs)
        out["task_model_hashes_agree"] = len(set(hashes)) == 1
        out["task_final_model_hash"] = hashes[0]
        out["query_settled"] = all(wl.query_settled(r, query_id) for r in rpcs)
        out["query_settlements_agree"] = len(set(answers)) == 1
        out["agents_failed"] = sorted(agents.failed())
        log(
            f"FL task finished on every node: {out['task_finished']}, model hashes agree: "
            f"{out['task_model_hashes_agree']}; query settled: {out['query_settled']}, "
            f"settlements agree: {out['query_settlements_agree']}"
        )
    load.stop()
    late = load.settle_pending(rpcs[0])
    _wait_blocks(rpcs, max(int(r.status()["sync_info"]["latest_block_height"]) for r in rpcs), 60)
    result = checker.check(load.committed(), everything=True)
    s = load.stats
    out.update({
        "final_height": result.height, "txs_sent": s.sent, "txs_committed": len(load.committed()),
        "txs_committed_late": late, "txs_failed_in_block": s.rejected, "send_errors": s.errors,
        "final_forks": result.forks, "final_lost": result.lost, "final_invariants": result.invariants,
        "final_unindexed": result.unindexed,
    })  # fmt: skip
    learning_ok = task_id is None or (
        out["task_finished"]
        and out["task_model_hashes_agree"]
        and out["query_settled"]
        and out["query_settlements_agree"]
    )
    out["ok"] = result.ok and learning_ok
    log(
        f"final check over all {result.height} heights and {len(load.committed())} committed txs: "
        f"{len(result.forks)} forks, {len(result.lost)} lost, {len(result.invariants)} broken invariants, "
        f"{len(result.unindexed)} in their block but missing from a node's /tx index"
    )
    return out


def _report(args: argparse.Namespace, fnet: FaultNet, outcomes: list[Outcome], final: dict[str, Any]) -> None:
    """Print the table (terminal and markdown) and write the results file."""
    rows = summarize(outcomes)
    print_table("Fault campaign, 4-validator localnet under load", COLUMNS, rows)
    md = markdown(COLUMNS, rows)
    print(md)
    all_ok = bool(final.get("ok")) and all(
        o.recovered and not (o.forks or o.lost or o.invariants) for o in outcomes
    )
    halts = [o.halted for o in outcomes if o.kind == "halt"]
    path = write_results("faults-smoke" if args.smoke else "faults", {
        "seed": args.seed, "all_ok": all_ok and all(halts),
        "settings": {k: v for k, v in vars(args).items()}, "slow_link": fnet.slow_description(),
        "columns": COLUMNS, "rows": rows, "markdown": md, "halts_held": halts,
        "perturbations": [o.as_dict() for o in outcomes], "final": final,
        "run_seconds": round(time.monotonic() - _STARTED),
    })  # fmt: skip
    log(f"wrote {path} ({'all ok' if all_ok else 'NOT all ok'}) in {time.monotonic() - _STARTED:.0f} s")


if __name__ == "__main__":
    main()
