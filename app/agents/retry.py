"""Calls to a node that may be down for a while: retry with backoff, say so once each way."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from app.agents.progress import Reporter
from app.client.rpc import QueryFailed, RpcError

__all__ = ["Retrier"]

T = TypeVar("T")
_MAX_BACKOFF = 10.0


class Retrier:
    """Calls until the node answers; a QueryFailed (the node answered no) is raised at once."""

    def __init__(self, reporter: Reporter, sleep: Callable[[float], None], url: str) -> None:
        self.reporter = reporter
        self.sleep = sleep
        self.url = url
        self.offline = False

    def __call__(self, what: str, call: Callable[[], T]) -> T:
        """Return call()'s result once the node is reachable; say once that it is down and once back."""
        delay = 0.5
        while True:
            try:
                result = call()
            except QueryFailed:
                raise
            except RpcError as e:
                if not self.offline:
                    self.reporter.warn(f"{what}: {e}; retrying")
                self.offline = True
                self.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
                continue
            if self.offline:
                self.reporter.info(f"node at {self.url} answers again")
                self.offline = False
            return result
