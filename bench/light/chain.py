"""The chains the benchmark reads: 4 CometBFT validators running the built-in kvstore, one Synod node.

The kvstore network comes from `cometbft testnet --v 4` with `proxy_app = "kvstore"` (the app runs
inside each CometBFT process), node i on its own loopback address, and fast local timeouts, so it
makes 1,000 blocks in about a minute. kvstore's `val=` txs change its validator set, which lets one
part of the chain rotate validators. The Synod node is a 1-validator `app.node.localnet`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from app.client.rpc import CometRPC, RpcError
from app.core.crypto import decode_address
from app.modules.bank import keys as bank_keys
from app.node import localnet as net
from app.node.config import DEFAULT_DENOM, fast_block_settings, load_app_config, read_toml, set_toml
from app.node.toolchain import check_cometbft

__all__ = ["VALIDATORS", "KvstoreNet", "SynodNode", "QueryTarget"]

VALIDATORS = 4
TIMEOUT_COMMIT = "10ms"
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 15.0
# CometBFT's defaults batch p2p writes for 100 ms and sleep 100 ms between gossip rounds, which
# caps a local network at ~3 blocks/s; these make it ~20 blocks/s on two cores.
_FAST_P2P = {
    ("consensus", "peer_gossip_sleep_duration"): '"5ms"',
    ("p2p", "flush_throttle_timeout"): '"5ms"',
}


class KvstoreNet:
    """Four `cometbft start` processes (in-process kvstore app), each in its own session."""

    def __init__(self, directory: Path) -> None:
        """Generate the network in an empty directory on a free loopback block."""
        self.directory = directory
        self.base_ip = net.find_free_base_ip(directory, VALIDATORS, salt=7)
        self.binary = check_cometbft()
        self.procs: list[subprocess.Popen[bytes]] = []
        self._generate()
        self.rpc = CometRPC(f"http://{self.base_ip}:{net.RPC_PORT}", timeout=10)

    def _generate(self) -> None:
        """`cometbft testnet`, then per-node addresses, peers and timeouts."""
        with tempfile.TemporaryDirectory(prefix="cometbft-testnet-") as scratch:
            subprocess.run(
                [
                    *(self.binary, "testnet", "--v", str(VALIDATORS), "--n", "0"),
                    *("--o", str(self.directory), "--starting-ip-address", self.base_ip),
                    *("--populate-persistent-peers", "--home", scratch),
                ],
                check=True,
                capture_output=True,
            )
        config = self._home(0) / "config" / "config.toml"
        peers = read_toml(config)["p2p"]["persistent_peers"].split(",")
        for i in range(VALIDATORS):
            ip = net.node_ip(self.base_ip, i)
            others = [p for p in peers if not p.endswith(f"@{ip}:{net.P2P_PORT}")]
            set_toml(
                self._home(i) / "config" / "config.toml",
                {
                    ("", "proxy_app"): '"kvstore"',
                    ("", "log_level"): '"error"',
                    ("rpc", "laddr"): f'"tcp://{ip}:{net.RPC_PORT}"',
                    ("p2p", "laddr"): f'"tcp://{ip}:{net.P2P_PORT}"',
                    ("p2p", "persistent_peers"): '"' + ",".join(others) + '"',
                    ("p2p", "addr_book_strict"): "false",
                    ("p2p", "allow_duplicate_ip"): "true",
                    ("instrumentation", "prometheus"): "false",
                    **fast_block_settings(TIMEOUT_COMMIT),
                    **_FAST_P2P,
                },
            )

    def _home(self, index: int) -> Path:
        return self.directory / f"node{index}"

    def start(self) -> None:
        """Start every node; return at once (see wait_for_height)."""
        for i in range(VALIDATORS):
            with (self._home(i) / "cometbft.log").open("ab") as log:
                self.procs.append(
                    subprocess.Popen(
                        [self.binary, "start", "--home", str(self._home(i))],
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def height(self) -> int:
        """Node 0's latest height (0 while it does not answer yet)."""
        try:
            return int(self.rpc.status()["sync_info"]["latest_block_height"])
        except RpcError:
            return 0

    def check_alive(self) -> None:
        """Raise if a node exited."""
        for i, p in enumerate(self.procs):
            if p.poll() is not None:
                raise RuntimeError(
                    f"kvstore node{i} exited ({p.returncode}): see {self._home(i)}/cometbft.log"
                )

    def set_validators(self, active: frozenset[int], nonce: int) -> None:
        """Submit kvstore `val=` txs leaving exactly nodes `active` as validators (from H+2 on).

        Additions go first, so the set never passes through empty. kvstore reads the power as an
        integer, so `nonce` leading zeros make each tx new to the mempool's duplicate cache.
        """
        order = sorted(active) + sorted(set(range(VALIDATORS)) - active)
        for i in order:
            key = json.loads((self._home(i) / "config" / "priv_validator_key.json").read_text())
            power = "0" * nonce + ("1" if i in active else "0")
            tx = f"val=ed25519!{key['pub_key']['value']}!{power}".encode()
            answer = self.rpc.broadcast_tx_sync(tx)
            if int(answer["code"]) != 0:
                raise RuntimeError(f"kvstore rejected validator update {tx!r}: {answer}")

    def halt(self) -> None:
        """Stop nodes 1..3: the chain stops growing and node 0 serves its blocks from an idle machine."""
        _stop_all(self.procs[1:])

    def stop(self) -> None:
        """Stop every node that is still running."""
        _stop_all(self.procs)


def _stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process group we started, then SIGKILL what is left after a grace period."""
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)


@dataclass(frozen=True)
class QueryTarget:
    """What a query backend needs: the node's RPC URL and gRPC address, and one balance to read."""

    rpc_url: str
    grpc_address: str
    address: str
    denom: str
    store_key: bytes


class SynodNode:
    """A 1-validator Synod localnet (`synod start`: our app + CometBFT), started and stopped."""

    def __init__(self, directory: Path) -> None:
        """Generate the node's home on a free loopback address."""
        base_ip = net.find_free_base_ip(directory, 1, salt=11)
        self.spec = net.generate(
            net.LocalnetSpec(validators=1, directory=directory, chain_id="synod-bench", base_ip=base_ip)
        )
        self.home = net.node_home(self.spec.directory, 0)
        self.rpc = CometRPC(net.rpc_address(self.spec, 0), timeout=10)

    def start(self, min_height: int = 3) -> None:
        """Start the node and wait until it has committed min_height."""
        net.start_node(self.spec.directory, 0)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                if int(self.rpc.status()["sync_info"]["latest_block_height"]) >= min_height:
                    return
            except RpcError:
                pass
            if not net.running_nodes(self.spec.directory) or time.monotonic() > deadline:
                raise RuntimeError(
                    f"Synod node not at height {min_height}: see {net.log_path(self.spec.directory, 0)}"
                )
            time.sleep(0.3)

    def target(self) -> QueryTarget:
        """The first funded account of genesis, and the raw state key of its balance."""
        doc = json.loads(self.home.genesis.read_text())
        address = doc["app_state"]["bank"]["balances"][0]["address"]
        key = bank_keys.STORE_PREFIX + bank_keys.balance_key(decode_address(address), DEFAULT_DENOM)
        grpc_address = load_app_config(self.home).grpc_address
        return QueryTarget(self.rpc.url, grpc_address, address, DEFAULT_DENOM, key)

    def stop(self) -> None:
        """Stop the node (app and CometBFT)."""
        with contextlib.suppress(Exception):
            net.down(self.spec.directory)
