"""Keeping a demo run honest about its processes: signals become KeyboardInterrupt so the clean-up
always runs, and a stall check fails a run whose chain stops instead of waiting forever."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from app.client.rpc import RpcError
from app.demo.chain import DemoError
from app.demo.view import TaskWatcher

__all__ = ["StallCheck", "interrupt_on_signals"]

_STALL_SECONDS = 60.0


@contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Make SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt, so the clean-up runs for each."""
    # SIGINT too: a shell starts background jobs with it ignored, and Python then leaves it so.

    def interrupt(signum: int, _frame: object) -> None:
        """Raise KeyboardInterrupt in the main thread."""
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class StallCheck:
    """Polls a watcher, tolerating a node that is briefly unreachable but not a chain that stops."""

    last_progress: float = field(default_factory=time.monotonic)
    height: int = -1

    def poll(self, watcher: TaskWatcher) -> None:
        """One poll; DemoError once node0 has not answered, or not advanced, for _STALL_SECONDS."""
        try:
            watcher.poll()
        except RpcError as e:
            if time.monotonic() - self.last_progress > _STALL_SECONDS:
                raise DemoError(f"node0 stopped answering: {e}") from None
            return
        if watcher.height > self.height:
            self.height, self.last_progress = watcher.height, time.monotonic()
        elif time.monotonic() - self.last_progress > _STALL_SECONDS:
            raise DemoError(f"the chain made no block for {_STALL_SECONDS:.0f}s (stuck at {self.height})")
