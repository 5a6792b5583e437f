"""Run the block-budget measurement (see __init__.py) and write bench/results/blockbudget.json."""

from __future__ import annotations

import argparse
import time
from typing import Any

from app.core.crypto import encode_address
from app.core.events import EventManager
from app.core.fixedpoint import content_hash
from app.modules.committee.hooks import CommitteeJudge
from app.modules.committee.keeper import CommitteeKeeper
from app.modules.tasks import hooks, logic
from app.modules.tasks.keeper import TasksKeeper
from app.modules.tasks.params import default_params
from app.state.kv import Branch, MemoryReader
from bench.common import print_table, write_results
from bench.growth.endblock import make_payloads
from synod.base.v1 import coin_pb2
from synod.tasks.v1 import tasks_pb2

CLOSE_HEIGHT = 100


def _task(task_id: int, workers: int, size: int) -> tasks_pb2.Task:
    """A running Krum task (f = (n - 3) // 2) in round 1's reveal phase, every worker revealed."""
    return tasks_pb2.Task(
        id=task_id,
        owner=encode_address(bytes(20)),
        model=tasks_pb2.ModelSpec(arch="logreg", n_features=size // 16 - 1, n_classes=16),  # d = size
        schedule=tasks_pb2.Schedule(rounds=2, join_blocks=1, commit_blocks=1, reveal_blocks=1),
        aggregation=tasks_pb2.Aggregation(
            rule="krum", params=[tasks_pb2.AggregationParam(name="byzantine", value=(workers - 3) // 2)]
        ),
        status=tasks_pb2.TASK_STATUS_RUNNING,
        phase=tasks_pb2.TASK_PHASE_REVEAL,
        phase_start_height=CLOSE_HEIGHT,
        round_start_height=CLOSE_HEIGHT - 1,
        worker_count=workers,
        worker_stake=coin_pb2.Coin(denom="usyn", amount="0"),
        reward=coin_pb2.Coin(denom="usyn", amount="1"),
    )


def _state(k: TasksKeeper, tasks: int, workers: int, size: int, budget: int) -> Branch:
    """A store holding the tasks, their revealed updates and checkpoints, all due at CLOSE_HEIGHT."""
    store = Branch(MemoryReader())
    params = default_params()
    params.max_aggregation_work = params.max_block_aggregation_work = budget
    k.set_params(store, params)
    for t in range(1, tasks + 1):
        task = _task(t, workers, size)
        payloads, weights = make_payloads(workers, size, seed=t)
        task.model_hash = k.retain_model(store, weights)
        for i, payload in enumerate(payloads):
            worker = bytes([i + 1]) * 20
            p = tasks_pb2.Participant(task_id=t, address=encode_address(worker))
            k.set_participant(store, worker, p)
            c = tasks_pb2.Commitment(worker=p.address, hash=bytes(32))
            k.set_commitment(store, t, 1, worker, c)
            reveal = tasks_pb2.Reveal(worker=p.address, update_hash=content_hash(payload), num_samples=100)
            k.set_reveal(store, t, 1, worker, reveal, payload)
        k.set_progress(store, t, tasks_pb2.RoundProgress(commits=workers, reveals=workers))
        k.set_task(store, task)
        k.schedule(store, CLOSE_HEIGHT, t)
    return store


class _NoBank:
    """No coins move: no round here slashes, and no task finishes."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"bank.{name} called")


def measure_blocks(tasks: int, workers: int, size: int, budget: int) -> dict[str, Any]:
    """Time each end-block from CLOSE_HEIGHT until every round is aggregated."""
    k = TasksKeeper()
    store = _state(k, tasks, workers, size, budget)
    judge = CommitteeJudge(CommitteeKeeper(), None, k)  # type: ignore[arg-type]  # unscored: no staking
    blocks: list[dict[str, Any]] = []
    height = CLOSE_HEIGHT
    while any(k.require_task(store, t).rounds_done == 0 for t in range(1, tasks + 1)):
        events = EventManager()
        started, cpu = time.perf_counter(), time.process_time()
        hooks.process_end_block(store, height, k, _NoBank(), judge, events)  # type: ignore[arg-type]
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        rounds = sum(1 for e in events.events if e.type == "round_closed")
        blocks.append(
            {"height": height, "rounds": rounds, "end_block_s": round(seconds, 4), "cpu_s": round(cpu, 4)}
        )
        height += 1
    records = [k.get_round(store, t, 1) for t in range(1, tasks + 1)]
    assert all(r is not None and r.outcome == tasks_pb2.ROUND_OUTCOME_AGGREGATED for r in records)
    models = [k.require_task(store, t).model_hash.hex() for t in range(1, tasks + 1)]
    return {"blocks": blocks, "models": models}


def main() -> None:
    """Measure both arms and write the results."""
    parser = argparse.ArgumentParser(prog="python -m bench.blockbudget")
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--size", type=int, default=262_144)
    parser.add_argument("--smoke", action="store_true", help="3 tasks of 4 workers x 4,096, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.tasks, args.workers, args.size = 3, 4, 4_096
    defaults = default_params()
    ratio = defaults.max_block_aggregation_work // defaults.max_aggregation_work
    work = logic.compute_step_work(_task(1, args.workers, args.size), args.workers)
    unbounded = measure_blocks(args.tasks, args.workers, args.size, budget=work * args.tasks * 2)
    budgeted = measure_blocks(args.tasks, args.workers, args.size, budget=work * ratio)
    assert unbounded["models"] == budgeted["models"], "the budget must not change any model"
    scale = defaults.max_aggregation_work / work
    rows = []
    for name, arm in (("unbounded", unbounded), ("budget", budgeted)):
        worst = max(b["end_block_s"] for b in arm["blocks"])
        cpu = max(b["cpu_s"] for b in arm["blocks"])
        rounds = max(b["rounds"] for b in arm["blocks"])
        rows.append(
            [name, str(len(arm["blocks"])), str(rounds), f"{worst:.2f}", f"{cpu:.2f}", f"{cpu * scale:.1f}"]
        )
    columns = [
        "arm",
        "blocks to aggregate all",
        "most rounds in a block",
        "worst end-block wall s",
        "worst end-block CPU s",
        "CPU s scaled to 2^27 rounds",
    ]
    print_table(
        f"{args.tasks} Krum rounds ({args.workers} x {args.size:,}) closing at one height", columns, rows
    )
    write_results(
        "blockbudget-smoke" if args.smoke else "blockbudget",
        {
            "tasks": args.tasks,
            "workers": args.workers,
            "size": args.size,
            "smoke": args.smoke,
            "round_work": work,
            "bound_ratio": scale,
            "unbounded": unbounded,
            "budget": budgeted,
            "table": {"columns": columns, "rows": rows},
        },
    )


if __name__ == "__main__":
    main()
