"""`python bench/faults/nsrun.py NETNS PROGRAM ARGS...`: run a Python console script inside a network
namespace, in this very process.

setns(2) moves this process into /run/netns/NETNS, then PROGRAM (a Python script such as .venv/bin/
synod) runs in-process with ARGS. There is no exec, so /proc/PID/cmdline stays what the localnet
recorded at launch (app/node/localnet.py recognises its nodes by pid, start time and argv), and the
children the node starts (CometBFT) inherit the namespace.
"""

from __future__ import annotations

import ctypes
import os
import runpy
import sys

_CLONE_NEWNET = 0x40000000


def main() -> None:
    """Enter the namespace named by argv[1], then run argv[2] with the rest of argv."""
    if len(sys.argv) < 3:
        sys.exit("usage: python bench/faults/nsrun.py NETNS PROGRAM [ARGS...]")
    name, program = sys.argv[1], sys.argv[2]
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            sys.exit(f"setns({name}) failed: {os.strerror(errno)}")
    finally:
        os.close(fd)
    sys.argv = [program, *sys.argv[3:]]
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)  # run by path: this folder's modules must not shadow the program's imports
    runpy.run_path(program, run_name="__main__")


if __name__ == "__main__":
    main()
