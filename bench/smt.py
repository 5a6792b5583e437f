"""Benchmark the sparse Merkle tree: batched inserts, proof generation, proof verification.

Run from the repository root: `python -m bench.smt`. Prints a table and writes
bench/results/smt.json. Keys are sha256 of counters, so every run does the same work.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from pathlib import Path

from app.state.smt import EMPTY, apply_updates, hash_key, hash_value, prove, verify_membership

__all__ = ["main"]

KEY_COUNT = 100_000
BATCH_SIZE = 1_000
RESULTS = Path(__file__).resolve().parent / "results" / "smt.json"


def _pairs(count: int) -> list[tuple[bytes, bytes]]:
    """Return `count` deterministic (key, value) pairs: key = sha256(counter), value = counter."""
    return [(hashlib.sha256(i.to_bytes(8, "big")).digest(), b"v%d" % i) for i in range(count)]


def _machine() -> dict[str, str]:
    """Describe the machine the figures were taken on."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
    }


def main() -> None:
    """Run the benchmark, print the table and write the results file."""
    pairs = _pairs(KEY_COUNT)
    store: dict[bytes, bytes] = {}
    root = EMPTY

    start = time.perf_counter()
    for pos in range(0, KEY_COUNT, BATCH_SIZE):
        batch = {hash_key(k): hash_value(v) for k, v in pairs[pos : pos + BATCH_SIZE]}
        root, new_nodes = apply_updates(root, batch, store.get)
        store.update(new_nodes)
    insert_s = time.perf_counter() - start

    start = time.perf_counter()
    proofs = [prove(root, hash_key(k), store.get) for k, _ in pairs]
    prove_s = time.perf_counter() - start

    start = time.perf_counter()
    for (key, value), proof in zip(pairs, proofs, strict=True):
        verify_membership(root, key, value, proof)
    verify_s = time.perf_counter() - start

    results = {
        "keys": KEY_COUNT,
        "batch_size": BATCH_SIZE,
        "keys_per_s_insert": round(KEY_COUNT / insert_s),
        "proofs_per_s": round(KEY_COUNT / prove_s),
        "verifications_per_s": round(KEY_COUNT / verify_s),
        "nodes_stored": len(store),
        "mean_proof_bytes": round(sum(len(p.encode()) for p in proofs) / KEY_COUNT, 1),
        "max_proof_depth": max(p.depth for p in proofs),
        "machine": _machine(),
    }
    rows = [
        (f"insert (batches of {BATCH_SIZE})", insert_s, results["keys_per_s_insert"]),
        ("prove", prove_s, results["proofs_per_s"]),
        ("verify", verify_s, results["verifications_per_s"]),
    ]
    print(f"sparse Merkle tree, {KEY_COUNT} keys")
    print(f"{'operation':<24}{'seconds':>10}{'per second':>14}")
    for name, seconds, rate in rows:
        print(f"{name:<24}{seconds:>10.2f}{rate:>14,}")
    print(f"nodes stored {len(store)}, mean proof {results['mean_proof_bytes']} bytes")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
