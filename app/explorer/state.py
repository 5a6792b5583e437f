"""The explorer's one read of the chain per block, shared by every viewer.

`Explorer.refresh` reads the node once for a new height and builds one snapshot (a JSON document,
serialized once); the web server hands that same document to every page load and every event
stream. A flood of viewers therefore costs the node nothing more than one viewer: the node is read
by the refresher thread only, once per block. Blocks never change, so each block's txs and
slashing events are read once (`_records`); closed rounds too (learning.RoundCache).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.client.follow import BlockWaiter
from app.client.light import LightClientError
from app.client.querier import MixedHeights, Querier
from app.client.rpc import RpcError
from app.client.verified import VerificationError
from app.explorer.chain import ChainRPC, get_block_record, get_chain_panel
from app.explorer.evaluate import Evaluator
from app.explorer.learning import RoundCache, get_queries_panel, get_tasks_panel

__all__ = ["BACKFILL_BLOCKS", "Explorer", "Sources"]

# A panel's read failing any of these ways shows the failure on that panel; the rest still render.
_PANEL_FAILURES = (
    RpcError,
    VerificationError,
    LightClientError,
    MixedHeights,
    OSError,
    ValueError,
    LookupError,
)
# Blocks scanned for slashing events when the explorer starts (older ones are not shown).
BACKFILL_BLOCKS = 100
_KEPT_RECORDS = 200  # per-block records kept in memory (the page shows the newest ten)
_KEPT_SLASHES = 500
_WAIT_S = 5.0  # one wait for the next block; then the node is asked directly


@dataclass
class Sources:
    """Where the explorer reads: the node's RPC, a querier for module state, and whether that
    querier verifies its answers against light-client headers."""

    rpc: ChainRPC
    querier: Querier
    verified: bool
    waiter: BlockWaiter | None = None
    # Local test accuracy and loss per checkpoint (JAX); None: not computed.
    evaluator: Evaluator | None = None


def _badge(verified: bool, height: int, source: str) -> dict[str, Any]:
    """What the page says about a panel's provenance."""
    return {"verified": verified, "height": height, "source": source}


class Explorer:
    """The latest snapshot, rebuilt once per new block by `run` (a thread) or `refresh` (tests)."""

    def __init__(self, sources: Sources, on_update: Callable[[], None] | None = None) -> None:
        self.sources = sources
        self.on_update = on_update
        self.rounds = RoundCache()
        self._records: dict[int, dict[str, Any]] = {}
        self._slashes: deque[dict[str, Any]] = deque(maxlen=_KEPT_SLASHES)
        self._scanned = 0  # highest height whose block record was read
        self._lock = threading.Lock()  # the document and height, read by the server's threads
        self._reading = threading.Lock()  # one refresh at a time (the refresher, or a test)
        self._stop = threading.Event()
        self.height = 0
        self.reads = 0  # snapshots built (the number of times the node was read)
        self.document = json.dumps({"height": 0, "loading": True}).encode()
        if sources.evaluator is not None:
            sources.evaluator.on_result = self._merge_evaluations

    def _scan(self, height: int) -> None:
        """Read the block records from the last scanned height (or BACKFILL_BLOCKS back) to height."""
        start = max(self._scanned + 1, height - BACKFILL_BLOCKS + 1, 1)
        for h in range(start, height + 1):
            record = get_block_record(self.sources.rpc, h)
            self._records[h] = record
            self._slashes.extend(record["slashes"])
        self._scanned = max(self._scanned, height)
        for old in [h for h in self._records if h <= height - _KEPT_RECORDS]:
            del self._records[old]

    def _panel(self, build: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
        """(data, badge) of one module panel; a failed read is shown as the panel's error."""
        source = "gRPC, proven against light-client headers" if self.sources.verified else "ABCI query"
        try:
            data = build()
        except _PANEL_FAILURES as e:
            return None, {**_badge(False, 0, source), "error": str(e)}
        return data, _badge(self.sources.verified, self.sources.querier.last_height, source)

    def build(self, status: dict[str, Any]) -> dict[str, Any]:
        """One snapshot at the node's latest height (status: its /status answer)."""
        height = int(status["sync_info"]["latest_block_height"])
        self._scan(height)
        querier = self.sources.querier
        chain, chain_badge = self._panel(
            lambda: get_chain_panel(self.sources.rpc, querier, status, self._records)
        )
        chain_badge.update(verified=False, height=height, source="CometBFT RPC (blocks, validators)")
        tasks, tasks_badge = self._panel(lambda: get_tasks_panel(querier, self.rounds))
        if tasks is not None and self.sources.evaluator is not None:
            self.sources.evaluator.merge(tasks)
        queries, queries_badge = self._panel(lambda: get_queries_panel(querier))
        return {
            "height": height,
            "updated": time.time(),
            "node_error": "",
            "chain": chain,
            "tasks": tasks,
            "queries": queries,
            "slashes": sorted(self._slashes, key=lambda s: -s["height"]),
            "badges": {
                "chain": chain_badge,
                "tasks": tasks_badge,
                "queries": queries_badge,
                "slashes": _badge(False, height, "CometBFT RPC block_results (events)"),
            },
        }

    def refresh(self) -> bool:
        """Read the node once if it has a new block; True if the snapshot changed."""
        with self._reading:
            return self._refresh()

    def _refresh(self) -> bool:
        """refresh(), under its lock."""
        try:
            status = self.sources.rpc.status()
            height = int(status["sync_info"]["latest_block_height"])
            if height <= self.height:
                return False
            snapshot = self.build(status)
        except RpcError as e:
            return self._set_error(str(e))
        self._publish(snapshot, height)
        evaluator = self.sources.evaluator
        if evaluator is not None and snapshot["tasks"]:
            # After publishing: checkpoint downloads never delay the page.
            self._panel(lambda: evaluator.request(self.sources.querier, snapshot["tasks"]))
        return True

    def _publish(self, snapshot: dict[str, Any], height: int) -> None:
        """Serialize the snapshot once and tell the server."""
        document = json.dumps(snapshot, separators=(",", ":")).encode()
        with self._lock:
            self.document, self.height = document, height
            self.reads += 1
        if self.on_update is not None:
            self.on_update()

    def _merge_evaluations(self) -> None:
        """Put new evaluation results into the current snapshot (no read of the node) and tell the
        server, so a result shows without waiting for the next block."""
        evaluator = self.sources.evaluator
        assert evaluator is not None
        with self._lock:
            snapshot = json.loads(self.document)
            if not snapshot.get("tasks"):
                return
            evaluator.merge(snapshot["tasks"])
            self.document = json.dumps(snapshot, separators=(",", ":")).encode()
        if self.on_update is not None:
            self.on_update()

    def _set_error(self, message: str) -> bool:
        """Keep the last snapshot, marked with why the node could not be read."""
        with self._lock:
            snapshot = json.loads(self.document)
            if snapshot.get("node_error") == message:
                return False
            snapshot["node_error"] = message
            self.document = json.dumps(snapshot, separators=(",", ":")).encode()
        if self.on_update is not None:
            self.on_update()
        return True

    def run(self) -> None:
        """Refresh at each new block until stop(): waits on the follower, else polls once a second."""
        while not self._stop.is_set():
            self.refresh()
            waiter = self.sources.waiter
            if waiter is None or waiter.wait_for_block(self.height, _WAIT_S) is None:
                self._stop.wait(1.0 if waiter is None else 0.0)

    def stop(self) -> None:
        """Make run() return after its current read."""
        self._stop.set()
        if self.sources.evaluator is not None:
            self.sources.evaluator.stop()
