"""Answers over a pinned snapshot of committed state, computed in a worker thread.

The gRPC server and the REST gateway (app/rest) serve the same answer functions the same way: the
snapshot is pinned on the event loop, between ABCI requests, so a block being executed is never
seen, and the answer (proofs, JSON rendering) is computed in a worker thread, so a large page never
stalls consensus. Failures stay typed: the transport maps each to its own status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

from app.state.backend import Backend
from app.state.proving import CommittedReader

__all__ = ["NotCommitted", "answer_pinned"]

T = TypeVar("T")


class NotCommitted(Exception):
    """The node has not committed a block yet: there is no state to answer from."""

    def __init__(self) -> None:
        super().__init__("the node has not committed a block yet: retry shortly")


async def answer_pinned(
    backend: Backend, executor: Executor | None, work: Callable[[CommittedReader], T], prove: bool = True
) -> T:
    """Pin committed state now; run work(reader) in the executor and release the snapshot there.

    Raises NotCommitted before the first Commit; whatever work raises (InvalidQuery, a registered
    error for a missing record, a bug) reaches the caller unchanged.
    """
    reader = CommittedReader.open(backend, prove=prove)
    if reader.height == 0:
        reader.close()
        raise NotCommitted()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, _work_and_close, reader, work)


def _work_and_close(reader: CommittedReader, work: Callable[[CommittedReader], T]) -> T:
    """Run work, then release the snapshot in the same thread (a cancelled call must not close it
    while the worker still reads it)."""
    try:
        return work(reader)
    finally:
        reader.close()
