"""Benchmark the sparse Merkle tree: batched inserts, proof generation, proof verification.

Run from the repository root: `python -m bench.smt`. Prints a table and writes
bench/results/smt.json. Keys are sha256 of counters, so every run does the same work.
"""

from __future__ import annotations

import hashlib
import time

from app.state.smt import EMPTY, apply_updates, hash_key, hash_value, prove, verify_membership
from bench.common import print_table, write_results

__all__ = ["main"]

KEY_COUNT = 100_000
BATCH_SIZE = 1_000


def _pairs(count: int) -> list[tuple[bytes, bytes]]:
    """Return `count` deterministic (key, value) pairs: key = sha256(counter), value = counter."""
    return [(hashlib.sha256(i.to_bytes(8, "big")).digest(), b"v%d" % i) for i in range(count)]


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
    }
    rows = [
        (f"insert (batches of {BATCH_SIZE})", insert_s, results["keys_per_s_insert"]),
        ("prove", prove_s, results["proofs_per_s"]),
        ("verify", verify_s, results["verifications_per_s"]),
    ]
    print_table(
        f"sparse Merkle tree, {KEY_COUNT} keys",
        ["operation", "seconds", "per second"],
        [[name, f"{seconds:.2f}", f"{rate:,}"] for name, seconds, rate in rows],
    )
    print(f"nodes stored {len(store)}, mean proof {results['mean_proof_bytes']} bytes")
    write_results("smt", results)


if __name__ == "__main__":
    main()
