"""Where our per-tx time goes, in-process (no socket, no CometBFT): 1000 MsgSends.

CheckTx on each, then one FinalizeBlock with all of them, then Commit. Signature checks
(app.core.crypto.is_valid_signature as the ante handler calls it) and Merkle hashing
(app.state.smt.apply_updates as the commit store calls it) are timed inside those calls by
wrapping the functions where they are looked up; a direct loop of 1000 signature checks is timed too.
"""

from __future__ import annotations

import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from typing import Any

import app.modules.auth.ante as ante
import app.state.store as store_mod
from app.app import SynodApp
from app.core.crypto import is_valid_signature
from app.core.tx import decode_tx, sign_bytes
from app.state.backend import LevelDBBackend
from bench.chain_core import CHAIN_ID, Workload

__all__ = ["profile"]


class _Timer:
    """Accumulates the time spent in a wrapped function."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1

    def take(self) -> float:
        s, self.seconds, self.calls = self.seconds, 0.0, 0
        return s


def profile(n: int = 1000) -> tuple[list[list[Any]], dict[str, Any], list[list[Any]]]:
    """Rows (stage, total ms, us/tx, share), figures, and cProfile's top functions of FinalizeBlock."""
    work = Workload(n)
    txs = work.txs(n)
    sig = _Timer(ante.is_valid_signature)
    smt_t = _Timer(store_mod.smt.apply_updates)
    orig_sig, orig_smt = ante.is_valid_signature, store_mod.smt.apply_updates
    ante.is_valid_signature = sig
    store_mod.smt.apply_updates = smt_t
    try:
        with tempfile.TemporaryDirectory() as d:
            backend = LevelDBBackend(d)
            app = SynodApp(backend)
            app.init_chain(CHAIN_ID, work.app_state(), 1)
            app.finalize_block(1, [], 1_700_000_001)
            app.commit()
            sig.take(), smt_t.take()
            start = time.perf_counter()
            results = [app.check_tx(t) for t in txs]
            check_s = time.perf_counter() - start
            assert all(r.code == 0 for r in results), results[0].log
            check_sig = sig.take()
            smt_t.take()
            start = time.perf_counter()
            block = app.finalize_block(2, txs, 1_700_000_002)
            fin_s = time.perf_counter() - start
            assert all(r.code == 0 for r in block.tx_results)
            fin_sig, fin_smt = sig.take(), smt_t.take()
            start = time.perf_counter()
            app.commit()
            commit_s = time.perf_counter() - start
            backend.close()
        # The same block again on a fresh chain, under cProfile (which slows it: shares only).
        with tempfile.TemporaryDirectory() as d:
            backend = LevelDBBackend(d)
            app = SynodApp(backend)
            app.init_chain(CHAIN_ID, work.app_state(), 1)
            app.finalize_block(1, [], 1_700_000_001)
            app.commit()
            prof = cProfile.Profile()
            prof.enable()
            app.finalize_block(2, txs, 1_700_000_002)
            prof.disable()
            backend.close()
    finally:
        ante.is_valid_signature, store_mod.smt.apply_updates = orig_sig, orig_smt
    # A bare loop of the same signature checks (pubkey, sign doc, signature from each tx).
    checks = []
    for raw in txs:
        tx = decode_tx(raw)
        doc = sign_bytes(tx.body_bytes, tx.auth_info_bytes, CHAIN_ID, work.numbers[tx.signer])
        checks.append((tx.auth_info.public_key, doc, tx.signature))
    start = time.perf_counter()
    assert all(is_valid_signature(*c) for c in checks)
    bare_sig = time.perf_counter() - start

    def row(name: str, seconds: float, of: float | None) -> list[Any]:
        share = f"{100 * seconds / of:.0f}%" if of else ""
        return [name, f"{seconds * 1e3:.1f}", f"{seconds / n * 1e6:.0f}", share]

    rows = [
        row(f"CheckTx x{n}", check_s, None),
        row("  of which signature check", check_sig, check_s),
        row(f"FinalizeBlock ({n} txs)", fin_s, None),
        row("  of which signature check", fin_sig, fin_s),
        row("  of which SMT apply_updates (app hash)", fin_smt, fin_s),
        row("  rest (decode, ante, bank, events)", fin_s - fin_sig - fin_smt, fin_s),
        row("Commit (LevelDB batch)", commit_s, None),
        row(f"is_valid_signature bare loop x{n}", bare_sig, None),
        row("per-tx total on a node (CheckTx + FinalizeBlock + Commit)", check_s + fin_s + commit_s, None),
    ]
    figures = {
        "profile_txs": n,
        "profile_checktx_us_per_tx": round(check_s / n * 1e6, 1),
        "profile_checktx_signature_us_per_tx": round(check_sig / n * 1e6, 1),
        "profile_finalize_us_per_tx": round(fin_s / n * 1e6, 1),
        "profile_finalize_signature_us_per_tx": round(fin_sig / n * 1e6, 1),
        "profile_finalize_smt_us_per_tx": round(fin_smt / n * 1e6, 1),
        "profile_commit_us_per_tx": round(commit_s / n * 1e6, 1),
        "profile_bare_signature_us_per_tx": round(bare_sig / n * 1e6, 1),
        "profile_node_us_per_tx": round((check_s + fin_s + commit_s) / n * 1e6, 1),
        "profile_single_core_ceiling_tx_per_s": round(n / (check_s + fin_s + commit_s)),
    }
    stats = pstats.Stats(prof)
    top = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]  # by tottime
    hot = [
        [
            f"{func[2]} ({func[0].rsplit('/', 2)[-2:] and '/'.join(func[0].rsplit('/', 2)[-2:])}:{func[1]})",
            cc,
            f"{tt * 1e3:.1f}",
            f"{ct * 1e3:.1f}",
        ]
        for func, (cc, _nc, tt, ct, _callers) in top
    ]
    return rows, figures, hot
