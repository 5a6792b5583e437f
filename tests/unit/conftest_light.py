"""Shared fixture of the light-client tests: a real one-validator CometBFT node (in-process kvstore).

test_light_hashing.py and test_light_verifier.py name this module in `pytest_plugins`, so the
fixture is registered once and the node starts once per session; it is always stopped at teardown.

PYTEST_DONT_REWRITE: the test modules import its helpers before pytest loads it as a plugin, too
late for assertion rewriting, so it reports failures with pytest.fail instead of bare asserts.
"""

from __future__ import annotations

import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.client.light.types import LightBlock, SignedHeader, ValidatorSet
from app.client.rpc import CometRPC, NodeUnreachable
from app.node.toolchain import ToolchainError, check_cometbft

__all__ = ["LiveChain", "live_chain", "fetch_light_block", "free_port"]

MIN_HEIGHT = 8  # blocks the node must have made before tests read it
_KV_TXS = (b"alpha=1", b"beta=2", b"gamma=3")
_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class LiveChain:
    """A running node: its home, RPC client, chain id, and the heights of its kvstore txs."""

    home: Path
    rpc: CometRPC
    chain_id: str
    tx_heights: tuple[int, ...]


def fetch_light_block(rpc: CometRPC, height: int) -> LightBlock:
    """The signed header and validator set at height, parsed (not yet verified)."""
    return LightBlock(
        SignedHeader.from_rpc(rpc.commit(height)), ValidatorSet.from_rpc(rpc.validators(height))
    )


def free_port() -> int:
    """A port the OS reports free on 127.0.0.1 (binding port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _set_option(text: str, section: str | None, key: str, value: str) -> str:
    """Set `key = value` in [section] of a config.toml (None: the top-level table)."""
    starts = [m.start() for m in re.finditer(r"^\[", text, flags=re.M)]
    if section is None:
        lo, hi = 0, starts[0]
    else:
        lo = text.index(f"\n[{section}]\n") + 1
        hi = next((s for s in starts if s > lo), len(text))
    body, count = re.subn(rf"^{key} = .*$", f"{key} = {value}", text[lo:hi], count=1, flags=re.M)
    if count != 1:
        pytest.fail(f"config.toml has no {key!r} in [{section or 'top level'}]")
    return text[:lo] + body + text[hi:]


def _configure(home: Path, rpc_port: int, p2p_port: int) -> None:
    """Fast blocks, the built-in kvstore app, private ports, no metrics server."""
    path = home / "config" / "config.toml"
    text = path.read_text()
    for section, key, value in (
        (None, "proxy_app", '"kvstore"'),
        ("rpc", "laddr", f'"tcp://127.0.0.1:{rpc_port}"'),
        ("p2p", "laddr", f'"tcp://127.0.0.1:{p2p_port}"'),
        ("consensus", "timeout_commit", '"100ms"'),
        ("consensus", "timeout_propose", '"500ms"'),
        ("instrumentation", "prometheus", "false"),
    ):
        text = _set_option(text, section, key, value)
    path.write_text(text)


def _wait_for_rpc(rpc: CometRPC, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll status until the node answers; fail with its log if it died or never came up."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"cometbft exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            rpc.status()
            return
        except NodeUnreachable:
            time.sleep(0.1)
    pytest.fail(f"cometbft RPC did not answer in {_START_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


def _start_node(home: Path) -> tuple[subprocess.Popen[bytes], CometRPC]:
    """Init a home, configure it, and start `cometbft start` on it."""
    try:
        binary = check_cometbft()
    except (ToolchainError, OSError) as exc:
        pytest.fail(
            f"the light-client tests need the real CometBFT binary: {exc}; run `bash scripts/setup.sh`"
        )
    subprocess.run([binary, "init", "--home", str(home)], check=True, capture_output=True)
    rpc_port, p2p_port = free_port(), free_port()
    _configure(home, rpc_port, p2p_port)
    log = home / "node.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "start", "--home", str(home)], stdout=out, stderr=subprocess.STDOUT)
    rpc = CometRPC(f"http://127.0.0.1:{rpc_port}", timeout=5.0)
    try:
        _wait_for_rpc(rpc, proc, log)
    except BaseException:
        _stop(proc)
        raise
    return proc, rpc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the node, killing it if it does not exit promptly."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def live_chain() -> Iterator[LiveChain]:
    """A node that has made at least MIN_HEIGHT blocks, some carrying kvstore txs."""
    with tempfile.TemporaryDirectory(prefix="synod-light-") as tmp:
        home = Path(tmp) / "node"
        proc, rpc = _start_node(home)
        try:
            heights = []
            for tx in _KV_TXS:
                sent = rpc.broadcast_tx_sync(tx)
                if sent["code"] != 0:
                    pytest.fail(f"kvstore rejected {tx!r}: {sent}")
                heights.append(int(rpc.wait_for_tx(sent["hash"], timeout=20)["height"]))
            rpc.wait_for_height(max(MIN_HEIGHT, max(heights) + 2), timeout=20)
            chain_id = rpc.status()["node_info"]["network"]
            yield LiveChain(home, rpc, chain_id, tuple(heights))
        finally:
            _stop(proc)
