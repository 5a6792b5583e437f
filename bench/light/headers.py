"""Light-client catch-up: verify from a trusted anchor to anchor + N, sequentially or by skipping.

The client is app.client.light.LightClient as shipped (TrustedStore on disk included: a sequential
catch-up writes one header in every 100 and the target). Its header source is either the node's RPC
(end to end) or a MemorySource of prefetched RPC answers, so that verification (JSON parsing,
hashing, signature checks, store writes) is timed without the network.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.client.light import HeaderSource, LightClient, TrustedStore, TrustOptions
from app.client.rpc import CometRPC

__all__ = ["TRUSTING_PERIOD_S", "MemorySource", "CatchUp", "prefetch", "catch_up", "median_catch_up"]

TRUSTING_PERIOD_S = 14 * 24 * 3600


class MemorySource:
    """A HeaderSource over prefetched answers of /commit and /validators: no network."""

    def __init__(
        self, commits: dict[int, dict[str, Any]], validators: dict[int, list[dict[str, Any]]]
    ) -> None:
        self.commits = commits
        self.vals = validators

    def commit(self, height: int | None = None) -> dict[str, Any]:
        """The signed header at height (the highest prefetched if None)."""
        return self.commits[max(self.commits) if height is None else height]

    def validators(self, height: int | None = None) -> list[dict[str, Any]]:
        """The validator set that signed height."""
        return self.vals[max(self.vals) if height is None else height]

    def addresses(self, height: int) -> set[str]:
        """The addresses of the validators at height."""
        return {v["address"] for v in self.vals[height]}

    def block_hash(self, height: int) -> bytes:
        """The block hash the commit at height signs (what trust options name)."""
        return bytes.fromhex(self.commits[height]["commit"]["block_id"]["hash"])


class _Counting:
    """Wraps a HeaderSource: counts the signed headers read and reports each read."""

    def __init__(self, source: HeaderSource, on_fetch: Callable[[int], None] | None = None) -> None:
        self.source, self.on_fetch, self.fetched = source, on_fetch, 0

    def commit(self, height: int | None = None) -> dict[str, Any]:
        self.fetched += 1
        if self.on_fetch:
            self.on_fetch(self.fetched)
        return self.source.commit(height)

    def validators(self, height: int | None = None) -> list[dict[str, Any]]:
        return self.source.validators(height)


def prefetch(
    rpc: CometRPC, first: int, last: int, on_tick: Callable[[int], None] | None = None
) -> tuple[MemorySource, float]:
    """Read /commit and /validators for first..last once; return them and the seconds it took."""
    commits, vals = {}, {}
    start = time.perf_counter()
    for h in range(first, last + 1):
        commits[h] = rpc.commit(h)
        vals[h] = rpc.validators(h)
        if on_tick:
            on_tick(h - first + 1)
    return MemorySource(commits, vals), time.perf_counter() - start


@dataclass(frozen=True)
class CatchUp:
    """One catch-up from anchor to target: time, headers read and verified, time in store writes."""

    seconds: float
    fetched: int
    verified: int
    store_s: float


def catch_up(
    chain_id: str,
    source: HeaderSource,
    anchor: int,
    anchor_hash: bytes,
    target: int,
    sequential: bool,
    on_fetch: Callable[[int], None] | None = None,
) -> CatchUp:
    """Trust anchor (not timed), then time verify_to_height(target) with a fresh store."""
    with tempfile.TemporaryDirectory(prefix="synod-bench-light-") as tmp:
        store = TrustedStore(tmp)
        counting = _Counting(source)
        options = TrustOptions(anchor, anchor_hash, TRUSTING_PERIOD_S)
        client = LightClient(chain_id, counting, store, options, sequential=sequential)
        counting.fetched, counting.on_fetch = 0, on_fetch
        store_s = [0.0]
        save = store.save

        def timed_save(block: Any) -> None:
            t = time.perf_counter()
            save(block)
            store_s[0] += time.perf_counter() - t

        store.save = timed_save  # type: ignore[method-assign]
        start = time.perf_counter()
        header = client.verify_to_height(target)
        seconds = time.perf_counter() - start
        if header.height != target:
            raise RuntimeError(f"light client returned height {header.height}, asked for {target}")
        return CatchUp(seconds, counting.fetched, client.headers_verified, store_s[0])


def median_catch_up(runs: list[CatchUp]) -> CatchUp:
    """The run with the median time (use an odd number of runs)."""
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
