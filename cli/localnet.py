"""`synod localnet`: a multi-validator network on this machine (node i on 127.0.0.(i+1))."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.live import Live
from rich.table import Table

from app.client.keyring import KeyringError
from app.client.rpc import CometRPC, RpcError
from app.node import localnet as net
from app.node import services
from app.node.toolchain import ToolchainError
from cli.common import emit, output_option

__all__ = ["localnet"]

_POLL_SECONDS = 0.25
_BLOCKS_TO_SEE = 2


@contextmanager
def _errors() -> Iterator[None]:
    """Turn localnet, toolchain and keyring errors into click errors (exit 1)."""
    try:
        yield
    except (net.LocalnetError, ToolchainError, KeyringError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None


def _dir_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--dir`, defaulting to `$SYNOD_LOCALNET_DIR` or `<repo>/localnet/run`."""
    return click.option(
        "--dir",
        "directory",
        type=click.Path(file_okay=False, path_type=Path),
        default=net.default_directory,
        show_default="$SYNOD_LOCALNET_DIR or <repo>/localnet/run",
        help="Directory holding the network (node0, node1, ... and localnet.json).",
    )(command)


def _node_argument(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the NODE argument (`2` or `node2`)."""
    return click.argument("node")(command)


def _log_tail(directory: Path, index: int, lines: int = 15) -> str:
    """The end of a node's `synod start` output, for error messages."""
    try:
        return "\n".join(net.logs(directory, index, lines))
    except net.LocalnetError:
        return "(no log)"


def _height_table(statuses: list[net.NodeStatus], target: int | None) -> Table:
    """The live view of `up`: each node's height against the height we wait for."""
    title = f"waiting for every node to reach height {target}" if target else "starting nodes"
    table = Table(title=title)
    for column in ("node", "rpc", "height", "state"):
        table.add_column(column)
    for s in statuses:
        state = "up" if s.up else ("starting" if s.pid else "down")
        if s.catching_up:
            state = "catching up"
        table.add_row(
            f"node{s.index}", s.rpc.removeprefix("tcp://"), "-" if s.height is None else str(s.height), state
        )
    return table


def _wait_for_blocks(directory: Path, timeout: float) -> None:
    """Show each node's height until every node has seen new blocks; fail early if one exits."""
    console = Console(stderr=True)
    deadline = time.monotonic() + timeout
    target: int | None = None
    with Live(console=console, refresh_per_second=8, transient=False) as live:
        while True:
            statuses = net.network_status(directory)
            live.update(_height_table(statuses, target))
            dead = [s.index for s in statuses if s.pid is None]
            if dead:
                tail = _log_tail(directory, dead[0])
                raise net.LocalnetError(f"node{dead[0]} exited while starting; its log ends with:\n{tail}")
            heights = [s.height for s in statuses]
            if target is None and None not in heights:
                target = max(heights) + _BLOCKS_TO_SEE
            if target is not None and all(h is not None and h >= target for h in heights):
                return
            if time.monotonic() >= deadline:
                raise net.LocalnetError(
                    f"not every node reached height {target} within {timeout:.0f}s (heights {heights}); "
                    f"the nodes keep running: inspect `synod localnet logs N --dir {directory}`, "
                    f"stop them with `synod localnet down --dir {directory}`"
                )
            time.sleep(_POLL_SECONDS)


def _check_same_spec(ctx: click.Context, spec: net.LocalnetSpec, given: dict[str, Any]) -> None:
    """Refuse options given on the command line that differ from the existing network's."""
    for name, value in given.items():
        if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE and getattr(spec, name) != value:
            raise net.LocalnetError(
                f"the network in {spec.directory} was generated with {name}={getattr(spec, name)!r}, "
                f"not {value!r}: add --fresh to regenerate it (its chain is lost)"
            )


def _prepare(ctx: click.Context, spec: net.LocalnetSpec, fresh: bool) -> net.LocalnetSpec:
    """Generate the network (regenerate with fresh), or reuse the one already in the directory."""
    directory = spec.directory
    if net.is_generated(directory):
        running = net.running_nodes(directory)
        if running:
            shown = ", ".join(f"node{i} (pid {pid})" for i, pid in sorted(running.items()))
            raise net.LocalnetError(
                f"a localnet is already running in {directory}: {shown}; "
                f"use `synod localnet status`, or `synod localnet down --dir {directory}` first"
            )
        if not fresh:
            existing = net.load_spec(directory)
            given = {k: v for k, v in asdict(spec).items() if k != "directory"}
            _check_same_spec(ctx, existing, given)
            return existing
    if fresh and directory.exists():
        net.remove(directory)
    click.echo(f"generating {spec.validators} validators in {directory}", err=True)
    return net.generate(spec)


@click.group()
def localnet() -> None:
    """Run a multi-validator network on this machine: node i listens on 127.0.0.(i+1)."""


@localnet.command()
@click.option("--validators", "-v", type=click.IntRange(1, 64), default=4, show_default=True)
@_dir_option
@click.option(
    "--timeout-commit",
    default=net.LocalnetSpec.timeout_commit,
    show_default=True,
    help="Pause after each block (bench/blocktime measures the choices).",
)
@click.option("--chain-id", default="synod-localnet", show_default=True)
@click.option("--base-ip", default="127.0.0.1", show_default=True, help="Node 0's address; node i gets +i.")
@click.option("--fresh", is_flag=True, help="Delete the existing network in --dir and generate a new one.")
@click.option("--wait", "wait_seconds", type=float, default=120, show_default=True, help="Seconds to wait.")
@click.option("--no-start", is_flag=True, help="Only generate the node homes (e.g. to copy them to hosts).")
@click.option(
    "--explorer/--no-explorer",
    default=True,
    show_default=True,
    help=f"Serve node0's explorer page on its address, port {services.EXPLORER_PORT} (`synod explorer`).",
)
@click.pass_context
def up(
    ctx: click.Context,
    validators: int,
    directory: Path,
    timeout_commit: str,
    chain_id: str,
    base_ip: str,
    fresh: bool,
    wait_seconds: float,
    no_start: bool,
    explorer: bool,
) -> None:
    """Start the network (generate it first if needed); wait for blocks.

    Without --fresh an existing network in --dir is restarted where it stopped.
    """
    spec = net.LocalnetSpec(validators, directory.resolve(), chain_id, timeout_commit, base_ip)
    with _errors():
        spec = _prepare(ctx, spec, fresh)
        if no_start:
            click.echo(f"generated {spec.validators} node homes in {spec.directory} (not started)")
            return
        for index in range(spec.nodes):
            net.check_ports(spec, index)
        for index in range(spec.nodes):
            net.start_node(spec.directory, index)
        try:
            _wait_for_blocks(spec.directory, wait_seconds)
        except KeyboardInterrupt:
            raise click.ClickException(
                "interrupted; the nodes keep running: stop them with "
                f"`synod localnet down --dir {spec.directory}`"
            ) from None
    full = f", {spec.full_nodes} full nodes" if spec.full_nodes else ""
    click.echo(f"localnet {spec.chain_id} is up ({spec.validators} validators{full}, dir {spec.directory}):")
    for index in range(spec.nodes):
        home = net.node_home(spec.directory, index).root
        click.echo(f"  node{index}  --node {net.rpc_address(spec, index)}   --home {home}")
    if explorer:
        url = services.start_explorer(spec.directory)
        if url is None:
            log = services.explorer_log(spec.directory)
            click.echo(f"  explorer did not start (the nodes run): see {log}", err=True)
        else:
            click.echo(f"  explorer  {url}")


@localnet.command()
@_dir_option
@output_option
def status(directory: Path, output: str) -> None:
    """Show each node's height, app hash, voting power and pid."""
    with _errors():
        statuses = net.network_status(directory)
        explorer = (
            services.explorer_url(net.load_spec(directory)) if services.running_explorer(directory) else None
        )
    if output == "json":
        emit(output, {"nodes": [asdict(s) for s in statuses], "explorer": explorer}, "")
        return
    table = Table()
    for column in ("node", "role", "address", "height", "app hash", "power", "state", "pid"):
        table.add_column(column)
    for s in statuses:
        state = "up" if s.up else ("starting" if s.pid else "down")
        if s.up and s.catching_up:
            state = "catching up"
        table.add_row(
            f"node{s.index}",
            s.role,
            s.rpc.removeprefix("tcp://"),
            "-" if s.height is None else str(s.height),
            (s.app_hash or "-")[:12],
            "-" if s.voting_power is None else str(s.voting_power),
            f"[green]{state}[/]" if s.up else f"[red]{state}[/]",
            "-" if s.pid is None else str(s.pid),
        )
    Console().print(table)
    if explorer:
        Console().print(f"explorer {explorer}")


def _wait_rpc(directory: Path, index: int, timeout: float = 60) -> None:
    """Wait until a started node answers RPC; fail with its log if it exits first."""
    rpc = CometRPC(net.rpc_address(net.load_spec(directory), index), timeout=2)
    deadline = time.monotonic() + timeout
    while True:
        if index not in net.running_nodes(directory):
            raise net.LocalnetError(f"node{index} exited; its log ends with:\n{_log_tail(directory, index)}")
        try:
            rpc.status()
            return
        except RpcError:
            if time.monotonic() >= deadline:
                raise net.LocalnetError(f"node{index} did not answer RPC within {timeout:.0f}s") from None
            time.sleep(_POLL_SECONDS)


def _wait_caught_up(directory: Path, index: int, timeout: float) -> int:
    """Wait until node i has synced and is within 2 blocks of the highest validator; its height."""
    spec = net.load_spec(directory)
    rpc = CometRPC(net.rpc_address(spec, index), timeout=2)
    deadline = time.monotonic() + timeout
    height = None
    while True:
        if index not in net.running_nodes(directory):
            raise net.LocalnetError(f"node{index} exited; its log ends with:\n{_log_tail(directory, index)}")
        with suppress(RpcError):
            sync = rpc.status()["sync_info"]
            height = int(sync["latest_block_height"])
            heads = [s.height for s in net.network_status(directory)[: spec.validators] if s.height]
            if not sync["catching_up"] and heads and height >= max(heads) - 2:
                return height
        if time.monotonic() >= deadline:
            raise net.LocalnetError(
                f"node{index} had not caught up within {timeout:.0f}s (at height {height}); it keeps "
                f"running: see `synod localnet logs {index} --cometbft --dir {directory}`"
            )
        time.sleep(_POLL_SECONDS)


@localnet.command("add-node")
@_dir_option
@click.option(
    "--state-sync",
    is_flag=True,
    help="Restore the app state from a validator's snapshot instead of replaying every block.",
)
@click.option(
    "--wait",
    "wait_seconds",
    type=float,
    default=120,
    show_default=True,
    help="Seconds to wait for the node to catch up (0: do not wait).",
)
def add_node(directory: Path, state_sync: bool, wait_seconds: float) -> None:
    """Add a non-validator full node to the running network and start it.

    With --state-sync it trusts a recent block of a running validator and restores from the
    validators' latest snapshot, then follows the chain from there.
    """
    with _errors():
        index = net.add_node(directory, state_sync=state_sync)
        home = net.node_home(directory, index).root
        kind = "full node, state sync" if state_sync else "full node"
        click.echo(f"created node{index} ({kind}) in {home}", err=True)
        pid = net.start_node(directory, index)
        _wait_rpc(directory, index)
        if wait_seconds > 0:
            height = _wait_caught_up(directory, index, wait_seconds)
            click.echo(f"node{index} started (pid {pid}) and caught up at height {height}")
        else:
            click.echo(f"node{index} started (pid {pid})")
    click.echo(f"  node{index}  --node {net.rpc_address(net.load_spec(directory), index)}   --home {home}")


@localnet.command()
@_node_argument
@_dir_option
def start(node: str, directory: Path) -> None:
    """Start one node again; it catches up from its peers."""
    with _errors():
        index = net.parse_node(net.load_spec(directory), node)
        pid = net.start_node(directory, index)
        _wait_rpc(directory, index)
    click.echo(f"node{index} started (pid {pid})")


@localnet.command()
@_node_argument
@_dir_option
def stop(node: str, directory: Path) -> None:
    """Stop one node gracefully (SIGTERM: CometBFT, then the app)."""
    with _errors():
        index = net.parse_node(net.load_spec(directory), node)
        stopped = net.stop_node(directory, index)
    click.echo(f"node{index} stopped" if stopped else f"node{index} was not running")


@localnet.command()
@_node_argument
@_dir_option
def kill(node: str, directory: Path) -> None:
    """SIGKILL one node (app and CometBFT at once), like a crash."""
    with _errors():
        index = net.parse_node(net.load_spec(directory), node)
        killed = net.kill_node(directory, index)
    click.echo(f"node{index} killed" if killed else f"node{index} was not running")


@localnet.command()
@_dir_option
def down(directory: Path) -> None:
    """Stop every node; the chain data stays and `up` resumes it."""
    with _errors():
        explorer = services.stop_explorer(directory)
        stopped = net.down(directory)
    shown = (
        ", ".join([f"node{i}" for i in stopped] + (["explorer"] if explorer else [])) or "none was running"
    )
    click.echo(f"stopped: {shown}")


@localnet.command()
@_node_argument
@_dir_option
@click.option("-n", "--lines", type=int, default=50, show_default=True, help="Lines to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
@click.option("--cometbft", is_flag=True, help="Show CometBFT's log instead of `synod start`'s output.")
def logs(node: str, directory: Path, lines: int, follow: bool, cometbft: bool) -> None:
    """Print the end of a node's log."""
    with _errors():
        index = net.parse_node(net.load_spec(directory), node)
        try:
            for line in net.logs(directory, index, lines, follow, cometbft):
                click.echo(line)
        except KeyboardInterrupt:
            pass
