"""How a worker tells its operator what it is doing: a live rich panel, or plain log lines (--quiet).

Both write to stderr, so stdout carries only the final summary.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

__all__ = ["LogReporter", "Reporter", "RichReporter", "StatusLine", "StepReport", "make_reporter"]

# What a training context hands the code it wraps: call it with (steps done, steps in all).
StepReport = Callable[[int, int], None]
_LOG_STEP_SHARE = 10  # a log line each tenth of the steps (and at the last)


@dataclass(frozen=True)
class StatusLine:
    """Where the task stands as of the latest block."""

    task_id: int
    height: int
    phase: str
    round: int
    rounds: int
    blocks_left: int
    subject: str = "task"  # what task_id numbers: a task, or a prediction query

    def describe(self) -> str:
        """One line, e.g. `round 2/5 commit phase, 4 blocks left (height 41)`."""
        where = (
            "join phase" if self.phase == "join" else f"round {self.round}/{self.rounds} {self.phase} phase"
        )
        if self.phase == "closing":  # closed; its aggregation waits for room in a block (tasks budget)
            return f"{self.subject} {self.task_id} {where}, aggregation deferred (height {self.height})"
        return f"{self.subject} {self.task_id} {where}, {self.blocks_left} blocks left (height {self.height})"


class Reporter(Protocol):
    """The worker's output channel."""

    def status(self, line: StatusLine) -> None:
        """The latest poll's view of the task."""

    def info(self, message: str) -> None:
        """Something happened (joined, committed, revealed, round closed)."""

    def warn(self, message: str) -> None:
        """Something went wrong that the worker works around (node down, round missed)."""

    def training(self, description: str) -> AbstractContextManager[StepReport]:
        """A context manager around local training; what it yields takes the steps done so far."""

    def close(self) -> None:
        """Stop any live display."""


class LogReporter:
    """Timestamped lines, one per event and one per phase change (for log files)."""

    def __init__(self, stream: TextIO | None = None, prefix: str = "worker") -> None:
        self.stream = stream or sys.stderr
        self.prefix = prefix
        self._last: tuple[str, int] | None = None

    def _write(self, level: str, message: str) -> None:
        """One line: time, prefix, level, message."""
        self.stream.write(f"{time.strftime('%H:%M:%S')} {self.prefix} {level:5} {message}\n")
        self.stream.flush()

    def status(self, line: StatusLine) -> None:
        """Log the phase when it changes."""
        if (line.phase, line.round) != self._last:
            self._last = (line.phase, line.round)
            self._write("info", line.describe())

    def info(self, message: str) -> None:
        """Log an event."""
        self._write("info", message)

    def warn(self, message: str) -> None:
        """Log a problem."""
        self._write("warn", message)

    @contextmanager
    def training(self, description: str) -> Iterator[StepReport]:
        """Log the start, a line each tenth of the steps, and the duration of training."""
        started = time.monotonic()
        self._write("info", f"{description} ...")
        logged = [0]

        def step(done: int, total: int) -> None:
            """Log the step count when it crosses the next tenth of the total."""
            share = _LOG_STEP_SHARE * done // max(1, total)
            if share > logged[0] or done == total:
                logged[0] = share
                self._write("info", f"{description}: step {done}/{total}")

        yield step
        self._write("info", f"{description}: done in {time.monotonic() - started:.2f} s")

    def close(self) -> None:
        """Nothing to stop."""


class RichReporter:
    """A live panel on stderr: the task's phase, blocks left and a training spinner; events above it."""

    def __init__(self, console: Console | None = None, prefix: str = "worker") -> None:
        self.console = console or Console(stderr=True, log_path=False)
        self.prefix = prefix
        self._line: StatusLine | None = None
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._live = Live(self._render(), console=self.console, refresh_per_second=8, transient=True)
        self._live.start()

    def _render(self) -> Group:
        """The status grid and the training progress."""
        grid = Table.grid(padding=(0, 2))
        if self._line is None:
            grid.add_row("[bold]worker[/]", "connecting ...")
        else:
            line = self._line
            round_text = "-" if line.phase == "join" else f"{line.round}/{line.rounds}"
            grid.add_row(f"[bold]{line.subject}[/]", str(line.task_id), "[bold]height[/]", str(line.height))
            grid.add_row("[bold]round[/]", round_text, "[bold]phase[/]", line.phase)
            grid.add_row("[bold]blocks left[/]", str(line.blocks_left), "", "")
        return Group(grid, self._progress)

    def status(self, line: StatusLine) -> None:
        """Redraw the panel."""
        self._line = line
        self._live.update(self._render())

    def info(self, message: str) -> None:
        """Print an event above the panel."""
        self.console.log(f"{self.prefix}: {message}")

    def warn(self, message: str) -> None:
        """Print a problem above the panel."""
        self.console.log(f"[yellow]{self.prefix}: {message}[/]")

    @contextmanager
    def training(self, description: str) -> Iterator[StepReport]:
        """Show a spinner, the steps done (a bar once their total is known) and the elapsed time."""
        task = self._progress.add_task(description, total=None)
        started = time.monotonic()

        def step(done: int, total: int) -> None:
            """Advance the bar."""
            self._progress.update(task, completed=done, total=total)

        try:
            yield step
        finally:
            self._progress.remove_task(task)
        self.info(f"{description}: done in {time.monotonic() - started:.2f} s")

    def close(self) -> None:
        """Stop the live display."""
        self._live.stop()


def make_reporter(quiet: bool, prefix: str = "worker") -> LogReporter | RichReporter:
    """Log lines when quiet or when stderr is not a terminal, else the live panel."""
    if quiet or not sys.stderr.isatty():
        return LogReporter(prefix=prefix)
    return RichReporter(prefix=prefix)
