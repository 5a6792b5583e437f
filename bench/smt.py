"""Benchmark the sparse Merkle tree: batched inserts, proof generation, proof verification.

Run from the repository root: `python -m bench.smt [--smoke]`. Prints a table and writes
bench/results/smt.json (--smoke: 2,000 keys in batches of 100, a second, to smt-smoke.json). Keys are
sha256 of counters, so every run does the same work.
"""

from __future__ import annotations

import argparse
import hashlib
import time

from app.state.smt import EMPTY, apply_updates, hash_key, hash_value, prove, verify_membership
from bench.common import print_table, write_results

__all__ = ["main"]

KEY_COUNT = 100_000
BATCH_SIZE = 1_000
SMOKE_KEYS, SMOKE_BATCH = 2_000, 100


def _pairs(count: int) -> list[tuple[bytes, bytes]]:
    """Return `count` deterministic (key, value) pairs: key = sha256(counter), value = counter."""
    return [(hashlib.sha256(i.to_bytes(8, "big")).digest(), b"v%d" % i) for i in range(count)]


def _parse() -> argparse.Namespace:
    """Return the command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench.smt", description=__doc__)
    p.add_argument("--smoke", action="store_true", help=f"{SMOKE_KEYS:,} keys, for CI")
    return p.parse_args()


def main() -> None:
    """Run the benchmark, print the table and write the results file."""
    smoke = _parse().smoke
    key_count, batch_size = (SMOKE_KEYS, SMOKE_BATCH) if smoke else (KEY_COUNT, BATCH_SIZE)
    pairs = _pairs(key_count)
    store: dict[bytes, bytes] = {}
    root = EMPTY

    start = time.perf_counter()
    for pos in range(0, key_count, batch_size):
        batch = {hash_key(k): hash_value(v) for k, v in pairs[pos : pos + batch_size]}
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
        "keys": key_count,
        "batch_size": batch_size,
        "keys_per_s_insert": round(key_count / insert_s),
        "proofs_per_s": round(key_count / prove_s),
        "verifications_per_s": round(key_count / verify_s),
        "nodes_stored": len(store),
        "mean_proof_bytes": round(sum(len(p.encode()) for p in proofs) / key_count, 1),
        "max_proof_depth": max(p.depth for p in proofs),
    }
    rows = [
        (f"insert (batches of {batch_size})", insert_s, results["keys_per_s_insert"]),
        ("prove", prove_s, results["proofs_per_s"]),
        ("verify", verify_s, results["verifications_per_s"]),
    ]
    print_table(
        f"sparse Merkle tree, {key_count} keys",
        ["operation", "seconds", "per second"],
        [[name, f"{seconds:.2f}", f"{rate:,}"] for name, seconds, rate in rows],
    )
    print(f"nodes stored {len(store)}, mean proof {results['mean_proof_bytes']} bytes")
    write_results("smt-smoke" if smoke else "smt", results)  # a smoke run keeps the committed figures


if __name__ == "__main__":
    main()
