"""The campaign's network: every node in its own network namespace on one bridge, so tc can cut,
partition or slow exactly one node's p2p traffic while its RPC stays reachable from here.

Why namespaces and not `tc` on `lo`: CometBFT dials its peers without binding a source address, so
on one loopback every outbound p2p connection comes from 127.0.0.1 and no filter can tell which
node opened it. In its own namespace a node's only address is its own: node i is 10.213.0.(i+1) on
veth `sfv{i}` (host side) / `eth0` (namespace side), the bridge `sfbr0` is 10.213.0.254.

Each veth end carries an HTB root qdisc with three classes: 1:1 (default, unshaped), 1:2 (a leaf
`pfifo limit 0`, which drops every packet: this kernel has no tc actions, so `action drop` is not
available) and 1:3 (a slow link: netem delay where the kernel has sch_netem, else an HTB rate limit
with a queue, so packets wait). u32 filters on the p2p port (26656, as source or destination port,
optionally only to or from some peers' addresses) steer traffic into 1:2 or 1:3; RPC, ABCI and gRPC
ports are never matched. Two ends per node: `eth0` (egress = what the node sends) and `sfv{i}`
(egress = what the node receives).

Everything is torn down by `teardown` (deleting a namespace deletes its veth pair and their
qdiscs), registered with atexit as soon as the first piece exists.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from app.node.localnet import P2P_PORT

__all__ = ["FaultNet", "NetSetupError", "check_tools"]

BRIDGE = "sfbr0"
PREFIX = "10.213.0"
_BRIDGE_IP = f"{PREFIX}.254"
_DROP, _SLOW = "1:2", "1:3"
_NETEM = "netem delay 200ms 50ms"
_SLOW_RATE = "512kbit"


class NetSetupError(Exception):
    """The namespaces or qdiscs cannot be set up here; the message says why."""


def check_tools() -> None:
    """Fail clearly unless this process is root and has `ip` and `tc`."""
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        raise NetSetupError(
            f"{' and '.join(missing)} not found: install iproute2 (the campaign needs ip and tc)"
        )
    if os.geteuid() != 0:
        raise NetSetupError("the fault campaign needs root (network namespaces and tc): run it with sudo")


def _run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
    """Run one ip/tc command; a failure names the command and its stderr."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise NetSetupError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}")
    return proc


class FaultNet:
    """Namespaces, veths, the bridge and the per-node qdiscs of an N-node campaign."""

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes
        self.slow_mode = ""
        self._registered = False

    # --- layout ---------------------------------------------------------------------------------

    @staticmethod
    def base_ip() -> str:
        """Node 0's address (node i is base + i), for LocalnetSpec.base_ip."""
        return f"{PREFIX}.1"

    @staticmethod
    def ip(index: int) -> str:
        """Node i's address."""
        return f"{PREFIX}.{index + 1}"

    @staticmethod
    def namespace(index: int) -> str:
        """Node i's namespace name."""
        return f"synod-faults-{index}"

    def launcher(self, index: int) -> list[str]:
        """The argv prefix that runs node i's `synod start` inside its namespace (start_node's launcher)."""
        # By path, not `-m bench.faults.nsrun`: the node starts in its home, where `bench` (not an
        # installed package) is not importable.
        return [sys.executable, str(Path(__file__).with_name("nsrun.py")), self.namespace(index)]

    def _devices(self, index: int) -> list[list[str]]:
        """`tc` argv prefixes for node i's two veth ends: what it sends (eth0), what it receives."""
        return [["ip", "netns", "exec", self.namespace(index), "tc"], ["tc"]]

    @staticmethod
    def _dev(side: int, index: int) -> str:
        """The device name of side 0 (inside the namespace) or 1 (host side) of node i's veth."""
        return "eth0" if side == 0 else f"sfv{index}"

    # --- set-up and teardown --------------------------------------------------------------------

    def setup(self) -> None:
        """Create the bridge, one namespace and veth per node, and their qdiscs."""
        check_tools()
        self.teardown()  # leftovers of a run that was killed before its own teardown
        if not self._registered:
            atexit.register(self.teardown)
            self._registered = True
        _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        _run(["ip", "addr", "add", f"{_BRIDGE_IP}/24", "dev", BRIDGE])
        _run(["ip", "link", "set", BRIDGE, "up"])
        for i in range(self.nodes):
            ns = self.namespace(i)
            _run(["ip", "netns", "add", ns])
            _run(["ip", "link", "add", f"sfv{i}", "type", "veth", "peer", "name", "eth0", "netns", ns])
            _run(["ip", "link", "set", f"sfv{i}", "master", BRIDGE, "up"])
            _run(["ip", "-n", ns, "addr", "add", f"{self.ip(i)}/24", "dev", "eth0"])
            _run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            for side, tc in enumerate(self._devices(i)):
                self._add_classes(tc, self._dev(side, i))

    def _add_classes(self, tc: list[str], dev: str) -> None:
        """HTB root with the unshaped, dropping and slow classes on one device."""
        _run([*tc, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1", "r2q", "10000"])
        for classid in ("1:1", _DROP):
            _run(
                [*tc, "class", "add", "dev", dev, "parent", "1:", "classid", classid, "htb", "rate", "10gbit"]
            )
        _run([*tc, "qdisc", "add", "dev", dev, "parent", _DROP, "handle", "2:", "pfifo", "limit", "0"])
        if self.slow_mode in ("", "netem"):
            _run([*tc, "class", "add", "dev", dev, "parent", "1:", "classid", _SLOW, "htb", "rate", "10gbit"])
            netem = _run(
                [*tc, "qdisc", "add", "dev", dev, "parent", _SLOW, "handle", "3:", *_NETEM.split()], False
            )
            if netem.returncode == 0:
                self.slow_mode = "netem"
                return
            _run([*tc, "class", "del", "dev", dev, "classid", _SLOW])
        # No sch_netem in this kernel: a slow link instead (a low rate and a queue: packets wait).
        self.slow_mode = "rate"
        rate = ["htb", "rate", _SLOW_RATE, "ceil", _SLOW_RATE, "burst", "4k"]
        _run([*tc, "class", "add", "dev", dev, "parent", "1:", "classid", _SLOW, *rate])
        _run([*tc, "qdisc", "add", "dev", dev, "parent", _SLOW, "handle", "3:", "pfifo", "limit", "300"])

    def slow_description(self) -> str:
        """What the slow class does, for the results."""
        if self.slow_mode == "netem":
            return f"netem delay 200ms ± 50ms on the node's p2p traffic ({_NETEM})"
        return (
            f"no sch_netem in this kernel: the node's p2p traffic is shaped to {_SLOW_RATE} each way with "
            "a 300-packet queue (an HTB rate limit), so its messages queue for hundreds of ms"
        )

    def teardown(self) -> None:
        """Delete every namespace, veth and the bridge of the campaign (whatever of them exists)."""
        for i in range(self.nodes):
            _run(["ip", "netns", "del", self.namespace(i)], check=False)
            _run(["ip", "link", "del", f"sfv{i}"], check=False)
        _run(["ip", "link", "del", BRIDGE], check=False)

    # --- faults ---------------------------------------------------------------------------------

    def _steer(self, index: int, classid: str, peers: Iterable[int] | None) -> None:
        """Send node i's p2p packets (all, or only those to/from peers) into classid, both ways."""
        peer_ips = [self.ip(p) for p in peers] if peers is not None else [None]
        for side, tc in enumerate(self._devices(index)):
            dev = self._dev(side, index)
            # Leaving the node (side 0) the peer is the destination; arriving (side 1), the source.
            peer_field = "dst" if side == 0 else "src"
            for peer in peer_ips:
                for port_field in ("sport", "dport"):
                    match = ["match", "ip", port_field, str(P2P_PORT), "0xffff"]
                    if peer is not None:
                        match += ["match", "ip", peer_field, f"{peer}/32"]
                    _run([*tc, "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1",
                          "u32", *match, "flowid", classid])  # fmt: skip

    def cut(self, index: int, peers: Iterable[int] | None = None) -> None:
        """Drop node i's p2p traffic (with every peer, or only with the given ones)."""
        self._steer(index, _DROP, peers)

    def slow(self, index: int) -> None:
        """Put node i's p2p traffic on the slow link."""
        self._steer(index, _SLOW, None)

    def heal(self, index: int) -> None:
        """Remove every filter of node i: its traffic is unshaped again."""
        for side, tc in enumerate(self._devices(index)):
            _run(
                [*tc, "filter", "del", "dev", self._dev(side, index), "parent", "1:", "prio", "1"],
                check=False,
            )

    def heal_all(self) -> None:
        """Remove every node's filters."""
        for i in range(self.nodes):
            self.heal(i)

    def filter_count(self, index: int) -> int:
        """How many u32 filters node i's two ends hold (0 once healed)."""
        total = 0
        for side, tc in enumerate(self._devices(index)):
            out = _run([*tc, "filter", "show", "dev", self._dev(side, index), "parent", "1:"], check=False)
            total += out.stdout.count("flowid")
        return total
