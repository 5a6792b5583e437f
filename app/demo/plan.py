"""What the demo posts and where it keeps it: its options, the task spec with a schedule sized in
blocks from the measured block time, the demo directory, and a summary of each worker's shard."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.agents.taskspec import load_task_spec
from app.demo.chain import DemoError
from app.demo.owndata import OwnData
from app.demo.story import StoryParts
from app.ml.datasets import load_shard
from app.ml.schema import TaskSchema
from app.modules.committee.params import default_params
from app.node import localnet as net

__all__ = ["DemoOptions", "compute_schedule", "prepare_directory", "shard_summary", "task_spec"]

_MARKER = ".synod-demo"
# Phase lengths in seconds, turned into blocks at the measured block time. Joining covers each
# worker's start-up (Python + JAX import, one join transaction, compiling its training step
# during the join phase); a commit phase covers a download, local training and one transaction.
# Workers start in parallel, one per core: each batch of `cores` workers adds one start-up.
_JOIN_SECONDS, _JOIN_SECONDS_PER_BATCH = 15.0, 12.0
_COMMIT_SECONDS, _REVEAL_SECONDS = 8.0, 5.0
# A score phase's commit window covers each member's download and evaluation of every update; the
# committee's reveal window (attest_reveal_blocks) follows it. It opens early once every seat has
# committed, and the phase closes as soon as every seat has revealed.
_SCORE_SECONDS = 10.0
_REVEAL_BLOCKS = default_params().attest_reveal_blocks


@dataclass(frozen=True)
class DemoOptions:
    """What the demo runs; every field has a default."""

    workers: int = 4
    rounds: int = 5
    directory: Path | None = None
    keep: bool = False
    plot: Path | None = None
    alpha: float = 0.5
    seed: int = 7
    validators: int = 4
    base_ip: str | None = None  # node 0's address; None: 127.0.0.1 if free, else a free 127.0.X.1
    data: Path | None = None  # the user's own file or image folder (app/demo/owndata.py); None: digits
    label: str | None = None  # its label column (tabular files)
    arch: str | None = None  # the model; None: logreg on digits, or one suited to --data
    trainer: str = ""  # pkg.module:attr of the user's own training code (`synod worker run --trainer`)
    trainer_workers: int | None = None  # how many workers (the first ones) use it; None: all
    parts: StoryParts = StoryParts()  # what runs beside FedAvg (StoryParts.plain(): nothing)


def compute_schedule(
    block_seconds: float, rounds: int, workers: int, cores: int, scored: bool = False
) -> dict[str, int]:
    """The task's schedule in blocks, so each phase lasts at least its target seconds (a score phase
    when scored: its commit window does, and its reveal window follows)."""
    batches = math.ceil(workers / max(1, cores))

    def blocks(seconds: float) -> int:
        """Blocks that take at least seconds (never fewer than 2)."""
        return max(2, math.ceil(seconds / max(block_seconds, 0.05)))

    return {
        "rounds": rounds,
        "join_blocks": blocks(_JOIN_SECONDS + _JOIN_SECONDS_PER_BATCH * batches),
        "commit_blocks": blocks(_COMMIT_SECONDS),
        "reveal_blocks": blocks(_REVEAL_SECONDS),
        "score_blocks": blocks(_SCORE_SECONDS) + _REVEAL_BLOCKS if scored else 0,
    }


def _usable_cores() -> int:
    """The cores this process may run on (fewer than the machine's in a pinned container)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def task_spec(options: DemoOptions, block_seconds: float, own: OwnData | None) -> dict[str, Any]:
    """The default task with the demo's rounds, schedule and worker counts (and data, and model)."""
    # The committee members start beside the workers: they count in the join phase's start-ups.
    members = options.validators if options.parts.committee else 0
    scored = options.parts.committee
    schedule = compute_schedule(
        block_seconds, options.rounds, options.workers + members, _usable_cores(), scored
    )
    spec: dict[str, Any] = {
        "schedule": schedule,
        # max = the demo's own workers: the join phase closes as soon as the last of them joins.
        "workers": {"min": min(2, options.workers), "max": options.workers},
    }
    if own is not None:
        spec |= own.spec_overrides(options.arch)
    elif options.arch:
        spec["model"] = {"arch": options.arch}
    return load_task_spec(spec)


def prepare_directory(directory: Path | None) -> Path:
    """A fresh temp dir, or directory emptied of a previous demo (anything else there is refused)."""
    if directory is None:
        root = Path(tempfile.mkdtemp(prefix="synod-demo-"))
    else:
        root = directory.resolve()
        if root.exists() and any(root.iterdir()):
            if not (root / _MARKER).exists():
                raise DemoError(f"{root} is not empty and holds no earlier demo: choose an empty --dir")
            if net.is_generated(root / "localnet"):
                net.remove(root / "localnet")  # refuses a network that is still running
            for stale in ("workers", "logs"):
                shutil.rmtree(root / stale, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
    (root / _MARKER).write_text("a `synod demo` directory: the next demo here replaces it\n")
    return root


def shard_summary(data_spec: str, schema: TaskSchema) -> str:
    """Rows and the three most common labels of a worker's shard: `301 rows, labels 3 41%, 8 22%, 0 9%`."""
    shard = load_shard(data_spec, schema)
    names = schema.label_names or tuple(str(i) for i in range(schema.n_classes))
    labels, counts = np.unique(shard.y, return_counts=True)
    top = sorted(zip(counts.tolist(), labels.tolist(), strict=True), reverse=True)[:3]
    shares = ", ".join(f"{names[label]} {100 * count / len(shard.y):.0f}%" for count, label in top)
    return f"{len(shard.y)} rows, labels {shares}"
