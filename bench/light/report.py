"""Tables and result figures of bench.light: rows as printed, figures as written to light.json."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.light import queries
from bench.light.headers import CatchUp
from bench.light.proofs import ProofTiming

__all__ = [
    "Scenario",
    "HeaderResult",
    "header_table",
    "header_notes",
    "header_ratios",
    "proof_table",
    "query_table",
]

Table = tuple[list[str], list[list[Any]], dict[str, Any]]


@dataclass(frozen=True)
class Scenario:
    """A stretch of the chain the light client catches up, from anchor to target.

    flips: (height at which to submit, validators from then on), for a rotating validator set.
    """

    name: str
    label: str
    anchor: int
    target: int
    flips: tuple[tuple[int, frozenset[int]], ...] = ()

    @property
    def blocks(self) -> int:
        return self.target - self.anchor


@dataclass(frozen=True)
class HeaderResult:
    """One scenario's figures: the RPC prefetch and the catch-ups by source and mode."""

    scenario: Scenario
    fetch_s: float
    runs: dict[str, CatchUp]  # "memory_sequential", "memory_skipping", "rpc_sequential", "rpc_skipping"
    sets: tuple[int, int, int]  # validators at the anchor, at the target, and in both


_HEADER_COLUMNS = [
    "validator set",
    "catch-up",
    "source",
    "headers read",
    "verified",
    "seconds",
    "blocks/s",
    "verified/s",
    "store writes s",
]


def header_notes(results: list[HeaderResult], sequential_repeats: int, skipping_repeats: int) -> list[str]:
    """What the header table's words mean."""
    notes = [
        "fetch only: /commit + /validators for every height over RPC (the prefetch the memory rows use)",
        "memory: LightClient over the prefetched answers (JSON parsing, hashing, signature checks, "
        "TrustedStore writes; no network); RPC: end to end against node 0 of the halted network",
        f"memory rows: median of {sequential_repeats} (sequential) or {skipping_repeats} (skipping) runs; "
        f"RPC skipping: median of {skipping_repeats}",
        "blocks/s: heights advanced per second; verified/s: headers whose commit was checked, per second",
        "store writes s: the part of seconds spent in TrustedStore.save (durable JSON files: sequential "
        "catch-ups write every 100th header and the target, skipping ones every header they verify)",
    ]
    for r in results:
        at_anchor, at_target, common = r.sets
        text = f"{r.scenario.label}: {at_anchor} validators at the anchor, {at_target} at the target, "
        text += f"{common} in both"
        if r.scenario.flips:
            step = r.scenario.flips[1][0] - r.scenario.flips[0][0]
            text += f"; the set switches between nodes {{0,1}} and {{2,3}} every {step} blocks"
        notes.append(text)
    return notes


def _run_row(sc: Scenario, key: str, run: CatchUp) -> list[Any]:
    source, mode = key.split("_")
    return [
        sc.label,
        mode,
        "RPC" if source == "rpc" else "memory",
        run.fetched,
        run.verified,
        f"{run.seconds:.4f}",
        f"{sc.blocks / run.seconds:,.0f}",
        f"{run.verified / run.seconds:,.0f}",
        f"{run.store_s:.4f}",
    ]


def header_table(results: list[HeaderResult]) -> Table:
    """One fetch row and four catch-up rows per scenario."""
    rows: list[list[Any]] = []
    figures: dict[str, Any] = {}
    for r in results:
        sc, n = r.scenario, r.scenario.blocks
        fetch_row = [sc.label, "fetch only", "RPC", n + 1, "-", f"{r.fetch_s:.3f}"]
        rows.append([*fetch_row, f"{(n + 1) / r.fetch_s:,.0f}", "-", "-"])
        figures[f"{sc.name}_fetch_s"] = round(r.fetch_s, 4)
        figures[f"{sc.name}_fetch_headers_per_s"] = round((n + 1) / r.fetch_s, 1)
        for key, run in r.runs.items():
            rows.append(_run_row(sc, key, run))
            prefix = f"{sc.name}_{key}"
            figures[f"{prefix}_s"] = round(run.seconds, 5)
            figures[f"{prefix}_blocks_per_s"] = round(n / run.seconds, 1)
            figures[f"{prefix}_headers_verified_per_s"] = round(run.verified / run.seconds, 1)
            figures[f"{prefix}_headers_verified"] = run.verified
            figures[f"{prefix}_headers_read"] = run.fetched
            figures[f"{prefix}_store_s"] = round(run.store_s, 5)
    return _HEADER_COLUMNS, rows, figures


def header_ratios(results: list[HeaderResult]) -> tuple[list[list[Any]], dict[str, float]]:
    """Per scenario: skipping over sequential speed, and what the network adds to sequential."""
    rows, figures = [], {}
    for r in results:
        runs, name = r.runs, r.scenario.name
        ratios = {
            f"{name}_skipping_over_sequential_speed_ratio_memory": (
                "skipping / sequential speed, in memory",
                runs["memory_sequential"].seconds / runs["memory_skipping"].seconds,
            ),
            f"{name}_skipping_over_sequential_speed_ratio_rpc": (
                "skipping / sequential speed, over RPC",
                runs["rpc_sequential"].seconds / runs["rpc_skipping"].seconds,
            ),
            f"{name}_rpc_over_memory_time_ratio_sequential": (
                "sequential time, over RPC / in memory",
                runs["rpc_sequential"].seconds / runs["memory_sequential"].seconds,
            ),
            f"{name}_fetch_over_verify_time_ratio_sequential": (
                "sequential, RPC fetch time / in-memory verification time",
                r.fetch_s / runs["memory_sequential"].seconds,
            ),
        }
        for key, (label, value) in ratios.items():
            rows.append([r.scenario.label, label, f"{value:.2f}"])
            figures[key] = round(value, 3)
    return rows, figures


def proof_table(timings: dict[str, ProofTiming]) -> Table:
    """One row per proof kind, and the non-membership over membership speed ratio."""
    columns = [
        "proof",
        "proofs",
        "verify s",
        "verified/s",
        "decode + verify s",
        "decoded + verified/s",
        "mean bytes",
    ]
    rows, figures = [], {}
    for kind, t in timings.items():
        rows.append(
            [
                kind.replace("_", "-"),
                f"{t.count:,}",
                f"{t.verify_s:.3f}",
                f"{t.count / t.verify_s:,.0f}",
                f"{t.decode_verify_s:.3f}",
                f"{t.count / t.decode_verify_s:,.0f}",
                f"{t.mean_bytes:.0f}",
            ]
        )
        figures[f"smt_{kind}_verifications_per_s"] = round(t.count / t.verify_s)
        figures[f"smt_{kind}_decode_verifications_per_s"] = round(t.count / t.decode_verify_s)
        figures[f"smt_{kind}_mean_proof_bytes"] = round(t.mean_bytes, 1)
    figures["smt_non_membership_over_membership_speed_ratio"] = round(
        timings["membership"].verify_s / timings["non_membership"].verify_s, 3
    )
    return columns, rows, figures


def query_table(results: dict[tuple[str, int], queries.QueryRun], concurrency: tuple[int, int]) -> Table:
    """One row per backend, with its throughput ratio over the baseline (/store with proof)."""
    lo, hi = concurrency
    base = queries.BASELINE.slug
    columns = ["backend", f"q/s @{lo}", f"p50 s @{lo}", f"q/s @{hi}", f"p50 s @{hi}", f"p99 s @{hi}"]
    columns += [f"ratio over /store (prove) @{lo}", f"ratio over /store (prove) @{hi}"]
    rows, figures = [], {}
    for backend in queries.BACKENDS:
        one, many = results[(backend.slug, lo)], results[(backend.slug, hi)]
        ratio = {c: results[(backend.slug, c)].per_s / results[(base, c)].per_s for c in concurrency}
        rows.append(
            [
                backend.label,
                f"{one.per_s:,.0f}",
                f"{one.percentile(50):.4f}",
                f"{many.per_s:,.0f}",
                f"{many.percentile(50):.4f}",
                f"{many.percentile(99):.4f}",
                f"{ratio[lo]:.2f}",
                f"{ratio[hi]:.2f}",
            ]
        )
        for c in concurrency:
            run = results[(backend.slug, c)]
            figures[f"queries_per_s_{backend.slug}_c{c}"] = round(run.per_s, 1)
            figures[f"query_p50_s_{backend.slug}_c{c}"] = round(run.percentile(50), 5)
            figures[f"query_p99_s_{backend.slug}_c{c}"] = round(run.percentile(99), 5)
            if backend.slug != base:
                figures[f"query_throughput_ratio_{backend.slug}_over_{base}_c{c}"] = round(ratio[c], 3)
    return columns, rows, figures
