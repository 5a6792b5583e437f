"""A multi-validator network on one machine: generate it, start/stop/kill its nodes, read their status.

`cometbft testnet` writes one home per validator (DIR/node{i}); we give them one genesis (our chain id,
app_state funding each node's `validator` key) and put node i on its own loopback address
127.0.0.(i+1), with the same ports everywhere (Linux routes all of 127/8 to `lo`):

    p2p 26656, rpc 26657, app (ABCI) 26658, gRPC queries 9090, REST and app metrics 1317,
    CometBFT's Prometheus metrics 26660

Each node runs as `synod start --home DIR/node{i}` in its own session (process group), its output in
DIR/node{i}/synod.log (CometBFT's in DIR/node{i}/log/cometbft.log). DIR/localnet.json records the
spec and, per running node, its pid, kernel start time and command line: a pid is signalled only
while /proc still shows that same process, never a reused one.

`add_node` appends a non-validator full node (node{N} on base_ip + N, counted in spec.full_nodes),
optionally set to state-sync from the validators' snapshots, which `generate` has them take every
10 blocks (config/app.toml).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import errno
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from app.client.keyring import KeyInfo, Keyring
from app.client.rpc import CometRPC, RpcError
from app.core import bls
from app.core.fsutil import create_exclusively, write_atomically
from app.node.blskey import create_bls_key, load_bls_key
from app.node.config import (
    GENESIS_VALIDATOR_FUNDS,
    LOCAL_P2P_SETTINGS,
    RPC_SETTINGS,
    VOTE_EXTENSIONS_HEIGHT,
    AppConfig,
    GenesisBond,
    NodeHome,
    cometbft_init,
    consensus_pubkey,
    fast_block_settings,
    read_toml,
    set_toml,
    write_app_config,
    write_app_genesis,
)
from app.node.processes import ProcessRecord, is_running, signal_and_wait, spawn_detached
from app.node.toolchain import REPO_ROOT, check_cometbft, find_binary

__all__ = [
    "P2P_PORT",
    "RPC_PORT",
    "ABCI_PORT",
    "GRPC_PORT",
    "API_PORT",
    "PROMETHEUS_PORT",
    "LocalnetError",
    "LocalnetSpec",
    "NodeStatus",
    "default_directory",
    "genesis_balances",
    "genesis_bonds",
    "find_free_base_ip",
    "generate",
    "add_node",
    "LOCALNET_APP_CONFIG",
    "remove",
    "load_spec",
    "is_generated",
    "node_home",
    "node_ip",
    "rpc_address",
    "grpc_address",
    "api_address",
    "parse_node",
    "check_ports",
    "start_node",
    "stop_node",
    "kill_node",
    "running_nodes",
    "node_status",
    "network_status",
    "down",
    "log_path",
    "logs",
]

P2P_PORT = 26656
RPC_PORT = 26657
ABCI_PORT = 26658
GRPC_PORT = 9090
API_PORT = 1317
PROMETHEUS_PORT = 26660
_STATE_FILE = "localnet.json"
_MNEMONIC_FILE = "validator.mnemonic"
_STOP_TIMEOUT_SECONDS = 30.0
_KILL_TIMEOUT_SECONDS = 10.0


class LocalnetError(Exception):
    """A localnet operation cannot proceed; the message says why and what to do."""


def default_directory() -> Path:
    """`$SYNOD_LOCALNET_DIR`, else `<repo>/localnet/run`."""
    return Path(os.environ.get("SYNOD_LOCALNET_DIR") or REPO_ROOT / "localnet" / "run")


@dataclass(frozen=True)
class LocalnetSpec:
    """What `generate` builds: N validators in `directory`, node i on base_ip + i."""

    validators: int = 4
    directory: Path = field(default_factory=default_directory)
    chain_id: str = "synod-localnet"
    # bench/blocktime (results/blocktime.json), 4 nodes on 2 cores: 100/200/300/500 ms give 0.44/0.54/
    # 0.64/0.87 s blocks at 9.8/8.2/7.1/4.8% of a core idle, ~43 ms of CPU a block whatever the value.
    # An early-closing round takes ~4 blocks, so 200 ms cuts it by a sixth against 300 ms for 1% of a
    # core; 100 ms would squeeze the block-count deadlines agents on a loaded machine must meet.
    timeout_commit: str = "200ms"
    base_ip: str = "127.0.0.1"
    # Non-validator full nodes added later (`add_node`): node{validators}, node{validators+1}, ...
    full_nodes: int = 0

    @property
    def nodes(self) -> int:
        """Every node of the network: the validators, then the full nodes."""
        return self.validators + self.full_nodes


@dataclass(frozen=True)
class NodeStatus:
    """One node as seen from its pid record and its RPC (None where it did not answer)."""

    index: int
    rpc: str
    up: bool
    pid: int | None
    height: int | None = None
    app_hash: str | None = None
    voting_power: int | None = None
    catching_up: bool | None = None
    role: str = "validator"


# Fast local parameters so unbonding and downtime jail play out in seconds, not weeks.
LOCALNET_STAKING_PARAMS = {"unbonding_seconds": "20"}
LOCALNET_SLASHING_PARAMS = {
    "signed_blocks_window": "20",
    "min_signed_per_window_bps": 5000,
    "downtime_jail_seconds": "5",
}
# Snapshots every 10 blocks (a few seconds here), so a node added with state sync finds one soon.
LOCALNET_APP_CONFIG = AppConfig(snapshot_interval=10, snapshot_keep_recent=2)
# State sync trusts a block this far below a validator's head (it must be committed by +2/3).
_TRUST_BLOCKS_BELOW_HEAD = 3


def genesis_balances(keys: list[KeyInfo]) -> dict[str, int]:
    """Genesis funds of each validator's account key (the self-bond is taken from them)."""
    return {key.address: GENESIS_VALIDATOR_FUNDS for key in keys}


def genesis_bonds(keys: list[KeyInfo], homes: list[NodeHome]) -> list[GenesisBond]:
    """Each node's validator, bonded from its account key with the node's CometBFT key, on committee
    duty with the node's BLS key."""
    return [
        GenesisBond(
            key.address,
            consensus_pubkey(home),
            f"node{i}",
            bls_pubkey=bls.public_key(load_bls_key(home.bls_key)),
        )
        for i, (key, home) in enumerate(zip(keys, homes, strict=True))
    ]


# --- layout -------------------------------------------------------------------------------------


def node_home(directory: Path, index: int) -> NodeHome:
    """Node i's home: DIR/node{i}."""
    return NodeHome(Path(directory) / f"node{index}")


def node_ip(base_ip: str, index: int) -> str:
    """Node i's address: base_ip + i (127.0.0.1 -> 127.0.0.1, 127.0.0.2, ...)."""
    return str(ipaddress.ip_address(base_ip) + index)


def rpc_address(spec: LocalnetSpec, index: int) -> str:
    """Node i's CometBFT RPC address, in the form `--node` takes."""
    return f"tcp://{node_ip(spec.base_ip, index)}:{RPC_PORT}"


def grpc_address(spec: LocalnetSpec, index: int) -> str:
    """Node i's gRPC query address (HOST:PORT), as its config/app.toml has it."""
    return f"{node_ip(spec.base_ip, index)}:{GRPC_PORT}"


def api_address(spec: LocalnetSpec, index: int) -> str:
    """Node i's REST gateway and app metrics address (HOST:PORT), as its config/app.toml has it."""
    return f"{node_ip(spec.base_ip, index)}:{API_PORT}"


def _app_config(spec: LocalnetSpec, index: int) -> AppConfig:
    """config/app.toml of node i: localnet snapshots, gRPC and REST on the node's own address."""
    return replace(
        LOCALNET_APP_CONFIG, grpc_address=grpc_address(spec, index), api_address=api_address(spec, index)
    )


def parse_node(spec: LocalnetSpec, node: str) -> int:
    """Accept `2` or `node2` and check it names a node of this network."""
    text = node.removeprefix("node")
    if not text.isdigit() or int(text) >= spec.nodes:
        raise LocalnetError(f"no node {node!r}: use 0..{spec.nodes - 1} or node0..node{spec.nodes - 1}")
    return int(text)


def is_generated(directory: Path) -> bool:
    """True if `generate` completed in directory."""
    return (Path(directory) / _STATE_FILE).is_file()


# --- localnet.json --------------------------------------------------------------------------------


def _read_state(directory: Path) -> dict:
    """The parsed localnet.json, or a helpful error."""
    path = Path(directory) / _STATE_FILE
    if not path.is_file():
        raise LocalnetError(
            f"no localnet in {directory} (no {_STATE_FILE}): create one with `synod localnet up`"
        )
    return json.loads(path.read_text())


def _write_state(directory: Path, state: dict) -> None:
    """Replace localnet.json atomically and durably."""
    write_atomically(Path(directory) / _STATE_FILE, (json.dumps(state, indent=2) + "\n").encode(), 0o644)


def load_spec(directory: Path) -> LocalnetSpec:
    """The spec that `generate` recorded in DIR/localnet.json."""
    spec = dict(_read_state(directory)["spec"])
    spec["directory"] = Path(directory).resolve()
    return LocalnetSpec(**spec)


# --- generation ---------------------------------------------------------------------------------


def _cometbft_testnet(spec: LocalnetSpec) -> None:
    """Run `cometbft testnet` into spec.directory (its --home points at a scratch dir it litters)."""
    with tempfile.TemporaryDirectory(prefix="cometbft-testnet-") as scratch:
        args = [
            check_cometbft(),
            "testnet",
            "--v",
            str(spec.validators),
            "--n",
            "0",
            "--o",
            str(spec.directory),
            "--starting-ip-address",
            spec.base_ip,
            "--populate-persistent-peers",
            "--home",
            scratch,
        ]
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LocalnetError(f"`cometbft testnet` failed ({proc.returncode}): {proc.stderr.strip()}")


def _node_settings(spec: LocalnetSpec, index: int, peers: list[str]) -> dict[tuple[str, str], str]:
    """config.toml edits for node i: own loopback address, fast blocks, no self in its peer list."""
    ip = node_ip(spec.base_ip, index)
    # `cometbft testnet` lists every node, itself included (a dial to self only logs an error).
    others = [p for p in peers if p.rsplit("@", 1)[1] != f"{ip}:{P2P_PORT}"]
    return {
        ("", "moniker"): f'"node{index}"',
        ("", "proxy_app"): f'"tcp://{ip}:{ABCI_PORT}"',
        ("rpc", "laddr"): f'"tcp://{ip}:{RPC_PORT}"',
        ("p2p", "laddr"): f'"tcp://{ip}:{P2P_PORT}"',
        ("p2p", "persistent_peers"): '"' + ",".join(others) + '"',
        ("p2p", "addr_book_strict"): "false",
        ("p2p", "allow_duplicate_ip"): "true",
        # CometBFT's own metrics (cometbft_consensus_height, ...) beside the app's on API_PORT.
        ("instrumentation", "prometheus"): "true",
        ("instrumentation", "prometheus_listen_addr"): f'"{ip}:{PROMETHEUS_PORT}"',
        **fast_block_settings(spec.timeout_commit),
        **RPC_SETTINGS,
        **LOCAL_P2P_SETTINGS,
    }


def _create_validator_key(home: NodeHome) -> KeyInfo:
    """Add the node's `validator` account key; keep its mnemonic beside it (0600)."""
    info, mnemonic = Keyring(home.root).add("validator")
    create_exclusively(home.root / _MNEMONIC_FILE, (mnemonic + "\n").encode(), 0o600)
    return info


def generate(spec: LocalnetSpec) -> LocalnetSpec:
    """Write N node homes into an empty spec.directory, sharing one genesis; return the spec."""
    directory = Path(spec.directory).resolve()
    spec = LocalnetSpec(**{**asdict(spec), "directory": directory})
    if spec.validators < 1:
        raise LocalnetError("a localnet needs at least 1 validator")
    if directory.exists() and any(directory.iterdir()):
        raise LocalnetError(f"{directory} is not empty: remove it (or use `synod localnet up --fresh`)")
    directory.mkdir(parents=True, exist_ok=True)
    _cometbft_testnet(spec)
    homes = [node_home(directory, i) for i in range(spec.validators)]
    peers = read_toml(homes[0].config_toml)["p2p"]["persistent_peers"].split(",")
    keys = []
    for i, home in enumerate(homes):
        set_toml(home.config_toml, _node_settings(spec, i, peers))
        write_app_config(home, _app_config(spec, i))
        keys.append(_create_validator_key(home))
        create_bls_key(home.bls_key)
    # `cometbft testnet` already gives every node the same validators and genesis time: write our
    # chain id and app_state once, then copy that file so every node starts from identical bytes.
    write_app_genesis(
        homes[0],
        spec.chain_id,
        genesis_balances(keys),
        genesis_bonds(keys, homes),
        staking_params=LOCALNET_STAKING_PARAMS,
        slashing_params=LOCALNET_SLASHING_PARAMS,
        vote_extensions_height=VOTE_EXTENSIONS_HEIGHT,
    )
    for home in homes[1:]:
        shutil.copyfile(homes[0].genesis, home.genesis)
    state_spec = {k: v for k, v in asdict(spec).items() if k != "directory"}
    _write_state(directory, {"spec": state_spec, "nodes": {}})
    return spec


def _node_id(home: NodeHome) -> str:
    """The node's p2p ID: hex of the first 20 bytes of sha256(its ed25519 node public key)."""
    doc = json.loads((home.root / "config" / "node_key.json").read_text())
    public = base64.b64decode(doc["priv_key"]["value"])[32:]
    return hashlib.sha256(public).digest()[:20].hex()


def _validator_peers(spec: LocalnetSpec) -> list[str]:
    """`id@ip:port` of every validator, for a full node's persistent_peers."""
    return [
        f"{_node_id(node_home(spec.directory, i))}@{node_ip(spec.base_ip, i)}:{P2P_PORT}"
        for i in range(spec.validators)
    ]


def _trusted_block(spec: LocalnetSpec, running: list[int]) -> tuple[int, str]:
    """(height, block hash) of a committed block a few below a running validator's head."""
    errors = []
    for index in running:
        rpc = CometRPC(rpc_address(spec, index), timeout=5)
        try:
            head = int(rpc.status()["sync_info"]["latest_block_height"])
            height = max(head - _TRUST_BLOCKS_BELOW_HEAD, 1)
            return height, rpc.block(height)["block_id"]["hash"]
        except RpcError as e:
            errors.append(str(e))
    raise LocalnetError(
        "state sync needs a trusted block from a running validator, and none answered "
        f"({'; '.join(errors) or 'none is running'}): start the network with `synod localnet up`"
    )


def _state_sync_settings(spec: LocalnetSpec, height: int, block_hash: str) -> dict[tuple[str, str], str]:
    """[statesync] for a new node: two validators' RPCs (CometBFT needs two) and a trusted block."""
    servers = [f"http://{node_ip(spec.base_ip, i)}:{RPC_PORT}" for i in range(min(spec.validators, 2))]
    if len(servers) < 2:
        servers *= 2  # a one-validator network: the same server twice satisfies CometBFT's check
    return {
        ("statesync", "enable"): "true",
        ("statesync", "rpc_servers"): '"' + ",".join(servers) + '"',
        ("statesync", "trust_height"): str(height),
        ("statesync", "trust_hash"): f'"{block_hash}"',
        ("statesync", "trust_period"): '"168h0m0s"',
        # CometBFT refuses a discovery time under 5s; the default 15s would only slow the test.
        ("statesync", "discovery_time"): '"5s"',
    }


def add_node(directory: Path, state_sync: bool = False) -> int:
    """Create the next node as a non-validator full node (state-synced if asked); return its index.

    It gets its own node and consensus keys (the latter in no validator set), node0's genesis, and
    the validators as persistent peers. It is recorded in localnet.json but not started.
    """
    spec = load_spec(directory)
    index = spec.nodes
    check_ports(spec, index)
    trusted = _trusted_block(spec, sorted(running_nodes(directory))) if state_sync else None
    home = node_home(spec.directory, index)
    if home.root.exists():
        raise LocalnetError(f"{home.root} already exists: remove it first (a failed add-node?)")
    home.root.mkdir()
    try:
        cometbft_init(home)
        shutil.copyfile(node_home(spec.directory, 0).genesis, home.genesis)
        settings = _node_settings(spec, index, _validator_peers(spec))
        if trusted is not None:
            settings.update(_state_sync_settings(spec, *trusted))
        set_toml(home.config_toml, settings)
        write_app_config(home, _app_config(spec, index))
    except BaseException:
        shutil.rmtree(home.root, ignore_errors=True)
        raise
    state = _read_state(directory)
    state["spec"]["full_nodes"] = spec.full_nodes + 1
    _write_state(directory, state)
    return index


def remove(directory: Path) -> None:
    """Delete a stopped localnet's directory (only one that `generate` made)."""
    directory = Path(directory)
    if not is_generated(directory) and not (directory / "node0" / "config").is_dir():
        raise LocalnetError(f"{directory} does not look like a localnet (no {_STATE_FILE}); not removing it")
    if is_generated(directory) and running_nodes(directory):
        raise LocalnetError(f"the localnet in {directory} is running: `synod localnet down` first")
    shutil.rmtree(directory)


# --- processes ------------------------------------------------------------------------------------


def _records(directory: Path) -> dict[int, ProcessRecord]:
    """The pid records of the nodes started here, by index."""
    return {int(i): ProcessRecord(**rec) for i, rec in _read_state(directory)["nodes"].items()}


def _is_node_process(directory: Path, index: int, record: ProcessRecord) -> bool:
    """True if record is alive, still the process we started, and that is node i's `synod start`."""
    home = node_home(directory, index).root
    return record.cmdline[-3:] == ["start", "--home", str(home)] and is_running(record)


def running_nodes(directory: Path) -> dict[int, int]:
    """{node index: pid} of the recorded nodes whose process is alive and still the one we started."""
    return {i: rec.pid for i, rec in _records(directory).items() if _is_node_process(directory, i, rec)}


def _set_record(directory: Path, index: int, record: ProcessRecord | None) -> None:
    """Record node i's process, or forget it (None)."""
    state = _read_state(directory)
    if record is None:
        state["nodes"].pop(str(index), None)
    else:
        state["nodes"][str(index)] = asdict(record)
    _write_state(directory, state)


def get_service(directory: Path, name: str) -> ProcessRecord | None:
    """The record of a process the localnet runs beside its nodes (app/node/services.py), if any."""
    record = _read_state(directory).get("services", {}).get(name)
    return None if record is None else ProcessRecord(**record)


def set_service(directory: Path, name: str, record: ProcessRecord | None) -> None:
    """Record a process the localnet runs beside its nodes, or forget it (None)."""
    state = _read_state(directory)
    services = state.setdefault("services", {})
    if record is None:
        services.pop(name, None)
    else:
        services[name] = asdict(record)
    _write_state(directory, state)


def find_free_base_ip(directory: Path, nodes: int, salt: int = 0) -> str:
    """The first 127.0.X.1 (X in 100-199, starting at an offset from our pid) with `nodes` free addresses.

    Tests and benchmarks run their networks there, clear of a user's localnet on 127.0.0.x and of
    each other.
    """
    last_error: LocalnetError | None = None
    offset = (os.getpid() + salt) % 100
    for k in range(100):
        base_ip = f"127.0.{100 + (offset + k) % 100}.1"
        spec = LocalnetSpec(validators=nodes, directory=directory, base_ip=base_ip)
        try:
            for index in range(nodes):
                check_ports(spec, index)
        except LocalnetError as e:
            last_error = e
            continue
        return base_ip
    raise LocalnetError(f"no free loopback block 127.0.100-199.1-{nodes} (last: {last_error})")


def check_ports(spec: LocalnetSpec, index: int) -> None:
    """Raise LocalnetError if node i's address cannot take its p2p, rpc, app, gRPC, REST and metrics ports."""
    ip = node_ip(spec.base_ip, index)
    for port in (P2P_PORT, RPC_PORT, ABCI_PORT, GRPC_PORT, API_PORT, PROMETHEUS_PORT):
        with socket.socket() as probe:
            # Like CometBFT's and asyncio's listeners: only a live listener blocks the port.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((ip, port))
            except OSError as e:
                if e.errno == errno.EADDRNOTAVAIL:
                    raise LocalnetError(
                        f"{ip} is not a local address: on macOS add loopback aliases "
                        f"(`sudo ifconfig lo0 alias {ip}`), or generate with another --base-ip"
                    ) from None
                raise LocalnetError(
                    f"{ip}:{port} is already in use (another localnet or `synod start` on this "
                    f"machine?): stop that, or put this network elsewhere, e.g. "
                    f"`synod localnet up --fresh --base-ip 127.0.1.1`"
                ) from None


def start_node(directory: Path, index: int, launcher: Sequence[str] = ()) -> int:
    """Launch `synod start --home DIR/node{i}` detached; record and return its pid.

    A launcher is an argv prefix that runs the command elsewhere without exec'ing it away (the
    fault campaign's network-namespace runner, bench/faults/nsrun.py): the node's addresses are
    then not local here, so the port probe is left to the node itself.
    """
    spec = load_spec(directory)
    if index in running_nodes(directory):
        raise LocalnetError(f"node{index} is already running")
    if not launcher:
        check_ports(spec, index)
    home = node_home(spec.directory, index)
    argv = [*launcher, find_binary("synod"), "start", "--home", str(home.root)]
    record = spawn_detached(argv, log_path(spec.directory, index), cwd=home.root)
    if record is None:
        raise LocalnetError(f"node{index} exited at once: see {log_path(spec.directory, index)}")
    _set_record(directory, index, record)
    return record.pid


def _signal_nodes(directory: Path, indices: list[int], sig: signal.Signals, timeout: float) -> list[int]:
    """Signal those of the nodes that are still ours and wait for them; return the ones signalled."""
    records = _records(directory)
    chosen = {i: records[i] for i in indices if i in records and _is_node_process(directory, i, records[i])}
    signalled = signal_and_wait(list(chosen.values()), sig, timeout)
    for index in indices:
        _set_record(directory, index, None)
    return [i for i, rec in chosen.items() if rec in signalled]


def stop_node(directory: Path, index: int) -> bool:
    """SIGTERM node i (its supervisor stops CometBFT, then the app) and wait; False if not running."""
    return bool(_signal_nodes(directory, [index], signal.SIGTERM, _STOP_TIMEOUT_SECONDS))


def kill_node(directory: Path, index: int) -> bool:
    """SIGKILL node i's app and CometBFT at once (a crash); False if it was not running."""
    return bool(_signal_nodes(directory, [index], signal.SIGKILL, _KILL_TIMEOUT_SECONDS))


def down(directory: Path) -> list[int]:
    """Stop every recorded node that is still ours (all at once, then wait); return their indices."""
    spec = load_spec(directory)
    return _signal_nodes(directory, list(range(spec.nodes)), signal.SIGTERM, _STOP_TIMEOUT_SECONDS)


# --- status and logs ------------------------------------------------------------------------------


def _validator_address(home: NodeHome) -> str:
    """Node's consensus address (upper-case hex) from its priv_validator_key.json."""
    return json.loads((home.root / "config" / "priv_validator_key.json").read_text())["address"]


def _voting_powers(spec: LocalnetSpec, ups: list[int]) -> dict[str, int]:
    """{consensus address: power} from the first node that answers /validators."""
    for index in ups:
        try:
            validators = CometRPC(rpc_address(spec, index), timeout=2).validators()
        except RpcError:
            continue
        return {v["address"].upper(): int(v["voting_power"]) for v in validators}
    return {}


def network_status(directory: Path) -> list[NodeStatus]:
    """Every node's pid, height, app hash, voting power and catching-up flag."""
    spec = load_spec(directory)
    running = running_nodes(directory)
    statuses = {}
    for index in range(spec.nodes):
        with contextlib.suppress(RpcError):
            statuses[index] = CometRPC(rpc_address(spec, index), timeout=2).status()["sync_info"]
    powers = _voting_powers(spec, list(statuses))
    result = []
    for index in range(spec.nodes):
        sync = statuses.get(index)
        result.append(
            NodeStatus(
                index=index,
                rpc=rpc_address(spec, index),
                up=index in running and sync is not None,
                pid=running.get(index),
                height=int(sync["latest_block_height"]) if sync else None,
                app_hash=sync["latest_app_hash"] if sync else None,
                # Known set, key not in it: power 0 (a full node, or a validator that left the set).
                voting_power=powers.get(
                    _validator_address(node_home(spec.directory, index)), 0 if powers else None
                ),
                catching_up=sync["catching_up"] if sync else None,
                role="validator" if index < spec.validators else "full",
            )
        )
    return result


def node_status(directory: Path, index: int) -> NodeStatus:
    """Node i's status (see network_status)."""
    return network_status(directory)[index]


def log_path(directory: Path, index: int, cometbft: bool = False) -> Path:
    """DIR/node{i}/synod.log (the `synod start` output), or CometBFT's own log."""
    home = node_home(directory, index)
    return home.log_dir / "cometbft.log" if cometbft else home.root / "synod.log"


def logs(
    directory: Path, index: int, lines: int = 50, follow: bool = False, cometbft: bool = False
) -> Iterator[str]:
    """The last `lines` lines of node i's log; with follow, then every new line until interrupted."""
    path = log_path(directory, index, cometbft)
    if not path.exists():
        raise LocalnetError(f"{path} does not exist yet: has node{index} been started?")
    with path.open(errors="replace") as handle:
        # A deque streams the file: CometBFT's log grows by megabytes an hour.
        tail = collections.deque(handle, maxlen=max(lines, 0))
        yield from (line.rstrip("\n") for line in tail)
        while follow:
            line = handle.readline()
            if line:
                yield line.rstrip("\n")
            else:
                time.sleep(0.2)
