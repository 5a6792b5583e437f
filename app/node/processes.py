"""Detached processes that outlive the command that started them, and are signalled only if still ours.

A record is (pid, kernel start time, argv) as /proc showed them right after the launch. Before any
signal, /proc must show the same three facts again, so a pid that the kernel has since reused for
another program is never touched. Each process leads its own session and process group, which is
how its children (CometBFT under `synod start`) are waited for and, if need be, killed with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessRecord", "spawn_detached", "is_running", "signal_and_wait"]

_POLL_SECONDS = 0.05
_EXEC_SETTLE_SECONDS = 5.0


@dataclass(frozen=True)
class ProcessRecord:
    """What identifies one launched process across pid reuse."""

    pid: int
    start_time: int
    cmdline: list[str]


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start time in clock ticks) of a pid, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and ')': split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[2]), int(fields[19])


def _proc_cmdline(pid: int) -> list[str] | None:
    """The argv of a pid, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw.decode(errors="replace").split("\0")[:-1]


def _reap(pid: int) -> None:
    """Collect pid's exit status if it is our child: a zombie would still look present in /proc."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def spawn_detached(argv: list[str], log: Path, cwd: Path) -> ProcessRecord | None:
    """Start argv in a new session, output appended to log; None if it exited at once."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    # Popen returns once the exec has closed its CLOEXEC pipe, which is before the kernel has laid
    # out the new argv: /proc/PID/cmdline reads empty for a moment. Wait for it (for a script it
    # starts with the interpreter), and keep the start time that tells this process from a later
    # one with the same pid.
    deadline = time.monotonic() + _EXEC_SETTLE_SECONDS
    while True:
        stat, cmdline = _proc_stat(proc.pid), _proc_cmdline(proc.pid)
        if stat is None or cmdline is None or stat[0] == "Z":
            _reap(proc.pid)
            return None
        if cmdline:
            return ProcessRecord(proc.pid, stat[2], cmdline)
        if time.monotonic() >= deadline:
            # Never leave behind a process that later checks could not recognise as ours.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None
        time.sleep(0.005)


def is_running(record: ProcessRecord) -> bool:
    """True if record's pid is alive and still the process we launched (start time and argv)."""
    _reap(record.pid)
    stat = _proc_stat(record.pid)
    if stat is None or stat[0] == "Z":
        return False
    # pgid == pid: still the group leader spawn_detached made, so its group is ours to signal.
    return (
        stat[1] == record.pid and stat[2] == record.start_time and _proc_cmdline(record.pid) == record.cmdline
    )


def _group_alive(pgid: int) -> bool:
    """True while a non-zombie process is in process group pgid."""
    _reap(pgid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None and stat[1] == pgid and stat[0] != "Z":
                return True
    return False


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    """Poll until process group pgid is empty; False on timeout."""
    deadline = time.monotonic() + timeout
    while _group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True


def signal_and_wait(records: list[ProcessRecord], sig: signal.Signals, timeout: float) -> list[ProcessRecord]:
    """Signal each record still ours, wait for its whole group, SIGKILL it after timeout.

    SIGTERM goes to the leader only (a supervisor stops its children in its own order); SIGKILL goes
    to the whole group at once. Returns the records that were signalled.
    """
    targets = [r for r in records if is_running(r)]
    for record in targets:
        if sig == signal.SIGKILL:
            os.killpg(record.pid, sig)
        else:
            os.kill(record.pid, sig)
    for record in targets:
        if not _wait_group_gone(record.pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record.pid, signal.SIGKILL)
            _wait_group_gone(record.pid, timeout)
    return targets
