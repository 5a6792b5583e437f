"""python -m bench.prune [--smoke] (see the package docstring)."""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.state import smt
from app.state.backend import LevelDBBackend
from app.state.store import DEFAULT_KEEP_RECENT, NODE_PREFIX, ORPHAN_PREFIX, ROOT_PREFIX, CommitStore
from bench.common import print_table, write_results

FULL = {"blocks": 10_000, "checkpoint": 1_000}
SMOKE = {"blocks": 300, "checkpoint": 100}
ACCOUNTS = 10_000
WRITES_PER_BLOCK = 200
SEED = 14
COLUMNS = [
    "height",
    "off: disk MiB",
    "off: nodes",
    "on: disk MiB",
    "on: nodes",
    "on: live nodes",
    "on: orphan records",
    "on: roots",
]


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.prune", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="300 blocks, for CI")
    return p.parse_args()


class _UnsyncedLevelDB(LevelDBBackend):
    """LevelDB without an fsync per batch: the node syncs every Commit, but what this measures is
    bytes and keys, and 20,000 fsyncs on a shared disk would dominate the run."""

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: list[bytes]) -> None:
        """Apply all puts and deletes atomically, without waiting for the disk."""
        with self._db.write_batch(transaction=True, sync=False) as wb:
            for k in deletes:
                wb.delete(k)
            for k, v in puts.items():
                wb.put(k, v)

    def compact(self) -> None:
        """Compact the whole key range: LevelDB drops deleted entries' bytes."""
        self._db.compact_range()


def _balance_key(i: int) -> bytes:
    """A key shaped like a bank balance: module prefix, table byte, 20-byte address, denom."""
    return b"bank/" + b"\x01" + smt.hash_key(i.to_bytes(4, "big"))[:20] + b"usyn"


def _disk_bytes(path: Path) -> int:
    """Bytes of the files in a LevelDB directory."""
    return sum(entry.stat().st_size for entry in os.scandir(path) if entry.is_file())


def _count(store: CommitStore, prefix: bytes) -> int:
    return sum(1 for _ in store.backend.iterate(prefix))


def _live_nodes(store: CommitStore) -> int:
    """Nodes the latest root reaches (a full walk)."""
    seen, todo = 0, [store.app_hash]
    while todo:
        node_hash = todo.pop()
        if node_hash == smt.EMPTY:
            continue
        seen += 1
        node = store.backend.get(NODE_PREFIX + node_hash)
        assert node is not None, "a live node is missing: pruning deleted too much"
        if node[0] == 1:
            todo += [node[1:33], node[33:]]
    return seen


def _commit_block(store: CommitStore, rng: random.Random, keys: list[bytes]) -> None:
    """One block of WRITES_PER_BLOCK random balance writes, staged and committed."""
    block = store.branch()
    for key in rng.sample(keys, WRITES_PER_BLOCK):
        block.set(key, rng.randbytes(16))
    store.stage(block, store.height + 1)
    store.commit()


def _run(keep_recent: int, blocks: int, checkpoint: int, directory: Path) -> tuple[list[dict], float]:
    """Commit `blocks` blocks; a row of measurements every `checkpoint`; return rows, seconds."""
    backend = _UnsyncedLevelDB(directory)
    store = CommitStore(backend, keep_recent=keep_recent)
    rng = random.Random(SEED)
    keys = [_balance_key(i) for i in range(ACCOUNTS)]
    rows, start = [], time.perf_counter()
    for height in range(1, blocks + 1):
        _commit_block(store, rng, keys)
        if height % checkpoint == 0:
            rows.append(
                {
                    "height": height,
                    "disk_bytes": _disk_bytes(directory),
                    "nodes": _count(store, NODE_PREFIX),
                    "live_nodes": _live_nodes(store),
                    "orphan_records": _count(store, ORPHAN_PREFIX),
                    "roots": _count(store, ROOT_PREFIX),
                    "app_hash": store.app_hash.hex(),
                }
            )
            print(f"keep_recent={keep_recent}: height {height}, {rows[-1]['nodes']} nodes", flush=True)
    seconds = time.perf_counter() - start
    backend.compact()
    rows[-1]["disk_bytes_compacted"] = _disk_bytes(directory)
    backend.close()
    return rows, seconds


def _table(off: list[dict], on: list[dict]) -> list[list[Any]]:
    mib = 1 << 20
    return [
        [
            a["height"],
            f"{a['disk_bytes'] / mib:.1f}",
            a["nodes"],
            f"{b['disk_bytes'] / mib:.1f}",
            b["nodes"],
            b["live_nodes"],
            b["orphan_records"],
            b["roots"],
        ]
        for a, b in zip(off, on, strict=True)
    ]


def main() -> None:
    args = _parse()
    grid = SMOKE if args.smoke else FULL
    with tempfile.TemporaryDirectory(prefix="bench-prune-") as tmp:
        off, off_s = _run(0, grid["blocks"], grid["checkpoint"], Path(tmp) / "off")
        on, on_s = _run(DEFAULT_KEEP_RECENT, grid["blocks"], grid["checkpoint"], Path(tmp) / "on")
    assert [r["app_hash"] for r in off] == [r["app_hash"] for r in on], "pruning changed an app hash"
    rows = _table(off, on)
    title = f"app DB over {grid['blocks']} blocks, {WRITES_PER_BLOCK} writes/block over {ACCOUNTS} keys"
    print_table(title, COLUMNS, rows)
    last_off, last_on = off[-1], on[-1]
    headline = (
        f"headline: after {grid['blocks']} blocks pruning (keep_recent {DEFAULT_KEEP_RECENT}) keeps "
        f"{last_on['nodes']:,} nodes ({last_on['disk_bytes'] / (1 << 20):.0f} MiB on disk) where no pruning "
        f"keeps {last_off['nodes']:,} ({last_off['disk_bytes'] / (1 << 20):.0f} MiB); same app hashes"
    )
    mib = 1 << 20
    compacted = (
        f"after a full compaction at height {grid['blocks']}: "
        f"off {last_off['disk_bytes_compacted'] / mib:.1f} MiB, "
        f"on {last_on['disk_bytes_compacted'] / mib:.1f} MiB"
    )
    print(headline)
    print(compacted)
    write_results(
        "prune-smoke" if args.smoke else "prune",
        {
            "settings": {
                **grid,
                "smoke": args.smoke,
                "accounts": ACCOUNTS,
                "writes_per_block": WRITES_PER_BLOCK,
                "keep_recent": DEFAULT_KEEP_RECENT,
                "seed": SEED,
            },
            "off": off,
            "on": on,
            "seconds": {"off": round(off_s, 1), "on": round(on_s, 1)},
            "table": {"columns": COLUMNS, "rows": rows},
            "headline": headline,
            "compacted": compacted,
        },
    )


if __name__ == "__main__":
    main()
