"""Where our per-tx time goes, in-process (no socket, no CometBFT): N MsgSends through every phase.

    python -m bench.throughput --profile-only [--profile-txs 1000] [--profile-repeats 5]

Each repeat runs a fresh chain through what a node does with a tx, timing each phase:

1. CheckTx (NEW) of the block's N txs (timed), then of N more that stay in the mempool;
2. FinalizeBlock of the first N, "warm" (this node checked them: their decoded form and signature
   verdicts are memoized, app/core/txcache.py), then Commit;
3. RECHECK of the N left in the mempool, as CometBFT does after every Commit; nothing they read
   changed, so they are answered from the recheck memo (app/core/recheck.py);
4. an empty block, then RECHECK of the same N with the recheck memo cleared: the cost of a recheck
   the rule does not cover (the decode and signature memos still apply);
5. FinalizeBlock of the first N on a second fresh chain that never checked them ("cold": a node that
   missed them, or a replay). Its app hash must equal the warm one's.

Times are CPU seconds of the profiling thread (time.thread_time), and the best of the repeats is
kept per phase: the machine may be shared, and other load inflates wall time far more. Signature checks
(app.core.crypto.is_valid_signature as the ante handler calls it) and Merkle hashing
(app.state.smt.apply_updates as the commit store calls it) are timed inside those calls by wrapping
the functions where they are looked up; a bare loop of N signature checks is timed too. Last, the
cold FinalizeBlock under cProfile, for its hottest functions.

Issue 18 (item 3), before (aa27e84) and after the memos (app/core/txcache.py, app/core/recheck.py),
us per tx, 1000 sends, the best of 15 repeats (3 interleaved rounds of 5, both trees under this same
profile) on the shared 2-core dev machine. The SMT was already batched: one apply_updates per block.

| phase | before | after |
|---|---|---|
| CheckTx (NEW) | 222 | 247 (hash, read recording, memo inserts, their GC) |
| FinalizeBlock, warm (this node checked the txs) | 164 | 88 |
| - of which signature checks | 59 | 0 |
| - of which SMT apply_updates | 26 | 26 |
| Commit | 14 | 14 |
| RECHECK, nothing the tx read changed | 139 | 17 |
| RECHECK, the rule does not apply (memo cleared) | 137 | 73 |
| FinalizeBlock, cold (never checked here) | 254 | 255 |
| per node: CheckTx + warm FinalizeBlock + Commit | 399 | 350 |
| the same plus one RECHECK per tx | 538 | 367 |

What is left (cold FinalizeBlock under cProfile): pure-Python bech32 for addresses this process has
not seen (a MsgSend's new recipient: decoded in its stateless check, encoded by ensure_account),
about 70 us per such tx; ed25519 verification, 57 us; SMT hashing, 26 us.
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
from app.core.crypto import decode_address, encode_address, is_valid_signature
from app.core.tx import decode_tx, sign_bytes
from app.state.backend import LevelDBBackend
from bench.chain_core import CHAIN_ID, Workload

__all__ = ["profile"]

_T0 = 1_700_000_000


class _Timer:
    """Accumulates the time spent in a wrapped function."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.thread_time() - start
            self.calls += 1

    def take(self) -> float:
        s, self.seconds, self.calls = self.seconds, 0.0, 0
        return s


class _Phases:
    """Times phases of one repeat, with the signature and SMT time spent inside each."""

    def __init__(self, sig: _Timer, smt: _Timer) -> None:
        self.sig, self.smt = sig, smt
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        self.sig.take(), self.smt.take()
        start = time.thread_time()
        out = fn()
        self.seconds[name] = time.thread_time() - start
        self.seconds[name + ".sig"] = self.sig.take()
        self.seconds[name + ".smt"] = self.smt.take()
        return out


def _fresh_chain(d: str, work: Workload) -> tuple[SynodApp, LevelDBBackend]:
    """A chain at height 1 over LevelDB in d, funding every sender, in a process that has seen only
    the genesis addresses (as a node of the localnet: the recipients' are new to it)."""
    encode_address.cache_clear()
    decode_address.cache_clear()
    backend = LevelDBBackend(d)
    app = SynodApp(backend)
    app.init_chain(CHAIN_ID, work.app_state(), 1)
    app.finalize_block(1, [], _T0 + 1)
    app.commit()
    return app, backend


def _all_ok(results: list[Any]) -> None:
    assert all(r.code == 0 for r in results), next(r.log for r in results if r.code)


def _repeat(work: Workload, block: list[bytes], pending: list[bytes], ph: _Phases) -> None:
    """One run of the five phases (module docstring) on fresh chains."""
    with tempfile.TemporaryDirectory() as d:
        app, backend = _fresh_chain(d, work)
        _all_ok(ph.run("checktx", lambda: [app.check_tx(t) for t in block]))
        _all_ok([app.check_tx(t) for t in pending])
        warm = ph.run("finalize", lambda: app.finalize_block(2, block, _T0 + 2))
        _all_ok(warm.tx_results)
        ph.run("commit", app.commit)
        _all_ok(ph.run("recheck", lambda: [app.check_tx(t, recheck=True) for t in pending]))
        app.finalize_block(3, [], _T0 + 3)
        app.commit()
        app.rechecks = type(app.rechecks)()
        _all_ok(ph.run("recheck_full", lambda: [app.check_tx(t, recheck=True) for t in pending]))
        backend.close()
    with tempfile.TemporaryDirectory() as d:
        app, backend = _fresh_chain(d, work)
        cold = ph.run("cold", lambda: app.finalize_block(2, block, _T0 + 2))
        _all_ok(cold.tx_results)
        backend.close()
    assert cold.app_hash == warm.app_hash, "a node's memos changed the app hash"


def _cold_profile(work: Workload, block: list[bytes]) -> list[list[Any]]:
    """cProfile's hottest functions (by own time) of a cold FinalizeBlock (it slows it: shares only)."""
    with tempfile.TemporaryDirectory() as d:
        app, backend = _fresh_chain(d, work)
        prof = cProfile.Profile()
        prof.enable()
        app.finalize_block(2, block, _T0 + 2)
        prof.disable()
        backend.close()
    stats = pstats.Stats(prof)
    top = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]
    return [
        [
            f"{func[2]} ({'/'.join(func[0].rsplit('/', 2)[-2:])}:{func[1]})",
            cc,
            f"{tt * 1e3:.1f}",
            f"{ct * 1e3:.1f}",
        ]
        for func, (cc, _nc, tt, ct, _callers) in top
    ]


def _bare_signatures(work: Workload, block: list[bytes]) -> float:
    """Seconds for a bare loop of the block's signature checks (pubkey, sign doc, signature)."""
    checks = []
    for raw in block:
        tx = decode_tx(raw)
        doc = sign_bytes(tx.body_bytes, tx.auth_info_bytes, CHAIN_ID, work.numbers[tx.signer])
        checks.append((tx.auth_info.public_key, doc, tx.signature))
    start = time.thread_time()
    assert all(is_valid_signature(*c) for c in checks)
    return time.thread_time() - start


def _best(runs: list[dict[str, float]], phase: str) -> dict[str, float]:
    """The phase's timings from the repeat where it was fastest (its parts from the same repeat)."""
    best = min(runs, key=lambda r: r[phase])
    return {"total": best[phase], "sig": best[phase + ".sig"], "smt": best[phase + ".smt"]}


def profile(n: int = 1000, repeats: int = 1) -> tuple[list[list[Any]], dict[str, Any], list[list[Any]]]:
    """Rows (stage, total ms, us/tx, share), figures, and cProfile's top functions of a cold FinalizeBlock."""
    work = Workload(2 * n)
    block, pending = work.txs(n), work.txs(n)
    sig = _Timer(ante.is_valid_signature)
    smt_t = _Timer(store_mod.smt.apply_updates)
    orig_sig, orig_smt = ante.is_valid_signature, store_mod.smt.apply_updates
    ante.is_valid_signature = sig
    store_mod.smt.apply_updates = smt_t
    runs: list[dict[str, float]] = []
    try:
        for _ in range(repeats):
            ph = _Phases(sig, smt_t)
            _repeat(work, block, pending, ph)
            runs.append(ph.seconds)
        hot = _cold_profile(work, block)
    finally:
        ante.is_valid_signature, store_mod.smt.apply_updates = orig_sig, orig_smt
    bare = min(_bare_signatures(work, block) for _ in range(repeats))
    return _table(n, repeats, {p: _best(runs, p) for p in _PHASES}, bare, hot)


_PHASES = ("checktx", "finalize", "commit", "recheck", "recheck_full", "cold")


def _table(
    n: int, repeats: int, best: dict[str, dict[str, float]], bare: float, hot: list[list[Any]]
) -> tuple[list[list[Any]], dict[str, Any], list[list[Any]]]:
    """Rows and figures from the best timings of each phase."""

    def row(name: str, seconds: float, of: float | None = None) -> list[Any]:
        share = f"{100 * seconds / of:.0f}%" if of else ""
        return [name, f"{seconds * 1e3:.1f}", f"{seconds / n * 1e6:.0f}", share]

    def parts(phase: str) -> list[list[Any]]:
        b = best[phase]
        out = [row("  of which signature check", b["sig"], b["total"])]
        if b["smt"]:
            out.append(row("  of which SMT apply_updates (app hash)", b["smt"], b["total"]))
        out.append(row("  rest (decode, ante, bank, events)", b["total"] - b["sig"] - b["smt"], b["total"]))
        return out

    node = best["checktx"]["total"] + best["finalize"]["total"] + best["commit"]["total"]
    rows = [
        row(f"CheckTx (NEW) x{n}", best["checktx"]["total"]),
        *parts("checktx"),
        row(f"FinalizeBlock ({n} txs), warm: checked here first", best["finalize"]["total"]),
        *parts("finalize"),
        row("Commit (LevelDB batch)", best["commit"]["total"]),
        row(f"RECHECK x{n}, nothing they read changed (recheck memo)", best["recheck"]["total"]),
        row(f"RECHECK x{n}, recheck memo cleared", best["recheck_full"]["total"]),
        *parts("recheck_full"),
        row(f"FinalizeBlock ({n} txs), cold: never checked here", best["cold"]["total"]),
        *parts("cold"),
        row(f"is_valid_signature bare loop x{n}", bare),
        row("per-tx total on a node (CheckTx + warm FinalizeBlock + Commit)", node),
    ]

    def us(seconds: float) -> float:
        return round(seconds / n * 1e6, 1)

    figures = {
        "profile_txs": n,
        "profile_repeats": repeats,
        "profile_checktx_us_per_tx": us(best["checktx"]["total"]),
        "profile_checktx_signature_us_per_tx": us(best["checktx"]["sig"]),
        "profile_finalize_us_per_tx": us(best["finalize"]["total"]),
        "profile_finalize_signature_us_per_tx": us(best["finalize"]["sig"]),
        "profile_finalize_smt_us_per_tx": us(best["finalize"]["smt"]),
        "profile_commit_us_per_tx": us(best["commit"]["total"]),
        "profile_recheck_us_per_tx": us(best["recheck"]["total"]),
        "profile_recheck_full_us_per_tx": us(best["recheck_full"]["total"]),
        "profile_finalize_cold_us_per_tx": us(best["cold"]["total"]),
        "profile_finalize_cold_signature_us_per_tx": us(best["cold"]["sig"]),
        "profile_bare_signature_us_per_tx": us(bare),
        "profile_node_us_per_tx": us(node),
        "profile_single_core_ceiling_tx_per_s": round(n / node),
    }
    return rows, figures, hot
