"""Real single nodes for end-to-end tests: `synod init` + `synod start` as subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from app.client.rpc import CometRPC, RpcError
from app.node.config import NodeHome, set_toml
from app.node.toolchain import REPO_ROOT

__all__ = ["free_port", "synod", "SynodNode"]

SYNOD = str(Path(sys.executable).with_name("synod"))


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def synod(*args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    """Run the installed `synod` CLI and capture its output."""
    proc = subprocess.run(
        [SYNOD, *args], capture_output=True, text=True, input=input, cwd=REPO_ROOT, timeout=120
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"synod {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return proc


class SynodNode:
    """One initialised home with its own ports, started and stopped as a `synod start` process."""

    def __init__(self, home: Path, chain_id: str = "synod-e2e") -> None:
        self.home = NodeHome(home)
        self.chain_id = chain_id
        self.proc: subprocess.Popen | None = None
        self.rpc_port = free_port()
        synod(
            "init",
            "--home",
            str(home),
            "--chain-id",
            chain_id,
            "--moniker",
            "e2e",
            "--timeout-commit",
            "200ms",
        )
        set_toml(
            self.home.config_toml,
            {
                ("", "proxy_app"): f'"tcp://127.0.0.1:{free_port()}"',
                ("rpc", "laddr"): f'"tcp://127.0.0.1:{self.rpc_port}"',
                ("p2p", "laddr"): f'"tcp://127.0.0.1:{free_port()}"',
            },
        )
        # Its own gRPC and REST ports too: the defaults 127.0.0.1:9090 and :1317 may be taken by
        # another node or test run.
        self.grpc_address = f"127.0.0.1:{free_port()}"
        self.api_address = f"127.0.0.1:{free_port()}"
        set_toml(
            self.home.app_toml,
            {("", "grpc_address"): f'"{self.grpc_address}"', ("", "api_address"): f'"{self.api_address}"'},
        )
        self.rpc = CometRPC(f"http://127.0.0.1:{self.rpc_port}")

    def start(self) -> None:
        """Launch `synod start` in its own session and wait until it answers RPC."""
        log = (self.home.root / "synod-start.log").open("ab")
        self.proc = subprocess.Popen(
            [SYNOD, "start", "--home", str(self.home.root)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"synod start exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                self.rpc.status()
                return
            except RpcError:
                time.sleep(0.2)
        raise AssertionError(f"node did not answer RPC within 60 s: {self.log_tail()}")

    def height(self) -> int:
        """Latest block height."""
        return int(self.rpc.status()["sync_info"]["latest_block_height"])

    def wait_height(self, height: int, timeout: float = 60) -> None:
        """Block until the chain reaches `height`."""
        self.rpc.wait_for_height(height, timeout=timeout)

    def kill9(self) -> None:
        """SIGKILL the supervisor only; CometBFT must die with it (PR_SET_PDEATHSIG)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait()
        self.proc = None
        return code

    def cometbft_pids(self) -> list[int]:
        """PIDs of CometBFT processes serving this home."""
        out = subprocess.run(
            ["pgrep", "-f", f"cometbft start --home {self.home.root}"], capture_output=True, text=True
        )
        return [int(p) for p in out.stdout.split()]

    def log_tail(self, n: int = 30) -> str:
        """The last lines of the node's logs, for failure messages."""
        text = ""
        for path in (self.home.root / "synod-start.log", self.home.log_dir / "cometbft.log"):
            if path.exists():
                text += f"\n--- {path} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-n:])
        return text

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a synod CLI command against this node (--home is enough to reach it)."""
        return synod(*args, "--home", str(self.home.root), check=check)
