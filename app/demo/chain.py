"""The demo's chain side: a 4-validator localnet, funded worker keys, and the posted task.

Transactions go through the agents' TxSender (app/client/sender.py); the task owner and the
funder is node0's `validator` key, which the localnet funds in genesis.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.agents.taskspec import TaskSpecError, build_post_task
from app.client.keyring import KeyInfo, Keyring
from app.client.rpc import CometRPC, RpcError
from app.client.sender import TxSender
from app.client.tasktx import post_task_gas
from app.client.txbuilder import msg_send
from app.core.coins import Coins
from app.node import localnet as net

__all__ = [
    "DemoError",
    "create_worker_keys",
    "fund",
    "measure_block_seconds",
    "post_task",
    "rpc_url",
    "start_localnet",
    "validator_sender",
]

_TX_TIMEOUT_SECONDS = 60.0
_SEND_GAS = 50_000  # per MsgSend: two balance writes and the new account, with room to spare


class DemoError(Exception):
    """The demo cannot go on; the message says what failed and where to look."""


def rpc_url(spec: net.LocalnetSpec, index: int) -> str:
    """Node i's RPC as an http URL."""
    return net.rpc_address(spec, index).replace("tcp://", "http://", 1)


def _pick_base_ip(directory: Path, validators: int) -> str:
    """127.0.0.1 (node i on 127.0.0.(i+1)) when its ports are free, else a free 127.0.X.1 block."""
    default = net.LocalnetSpec(validators=validators, directory=directory)
    try:
        for index in range(validators):
            net.check_ports(default, index)
        return default.base_ip
    except net.LocalnetError:
        return net.find_free_base_ip(directory, validators)


def start_localnet(
    directory: Path,
    validators: int = 4,
    base_ip: str | None = None,
    timeout: float = 120.0,
    timeout_commit: str | None = None,
) -> net.LocalnetSpec:
    """Generate a fresh localnet in directory, start every node and wait until each has made blocks."""
    base_ip = base_ip or _pick_base_ip(directory, validators)
    spec = net.LocalnetSpec(validators, directory, base_ip=base_ip)
    if timeout_commit is not None:
        spec = dataclasses.replace(spec, timeout_commit=timeout_commit)
    spec = net.generate(spec)
    for index in range(spec.validators):
        net.start_node(spec.directory, index)
    deadline = time.monotonic() + timeout
    while True:
        statuses = net.network_status(spec.directory)
        dead = [s.index for s in statuses if s.pid is None]
        if dead:
            raise DemoError(
                f"node{dead[0]} exited while starting: see {net.log_path(spec.directory, dead[0])}"
            )
        if all(s.height is not None and s.height >= 2 for s in statuses):
            return spec
        if time.monotonic() >= deadline:
            raise DemoError(f"the localnet made no blocks within {timeout:.0f}s: see {spec.directory}/node*/")
        time.sleep(0.25)


def measure_block_seconds(rpc: CometRPC, blocks: int = 5, timeout: float = 60.0) -> float:
    """Seconds per block over the next few blocks, as the clock here sees them."""
    try:
        # Start the clock on a fresh block, not part-way through one.
        start_height = int(rpc.wait_for_height(0)["sync_info"]["latest_block_height"]) + 1
        rpc.wait_for_height(start_height, timeout=timeout)
        started = time.monotonic()
        rpc.wait_for_height(start_height + blocks, timeout=timeout)
    except RpcError as e:
        raise DemoError(f"the localnet stopped making blocks: {e}") from None
    return (time.monotonic() - started) / blocks


def validator_sender(spec: net.LocalnetSpec, index: int) -> TxSender:
    """A sender with node i's genesis-funded `validator` key, through node i."""
    home = net.node_home(spec.directory, index).root
    return TxSender(CometRPC(rpc_url(spec, index)), Keyring(home).private_key("validator"), spec.chain_id)


def create_worker_keys(homes: Sequence[Path]) -> list[KeyInfo]:
    """Add one key `worker` to each home's keyring (the home is created)."""
    keys = []
    for home in homes:
        home.mkdir(parents=True, exist_ok=True)
        info, _ = Keyring(home).add("worker")
        keys.append(info)
    return keys


def fund(sender: TxSender, addresses: Sequence[str], amount: Coins) -> int:
    """Send amount to every address in one transaction; return its height."""
    msgs = [msg_send(sender.key.address, address, amount) for address in addresses]
    prepared = sender.prepare(msgs, gas=_SEND_GAS * (len(msgs) + 1))
    return sender.wait(sender.broadcast(prepared), timeout=_TX_TIMEOUT_SECONDS).height


def post_task(sender: TxSender, spec: dict[str, Any], blob_dir: Path | None = None) -> int:
    """Post the task spec (merged over the defaults) as sender; return the new task's id.

    A task on the user's own data publishes its evaluation rows as a blob in blob_dir.
    """
    try:
        msg = build_post_task(sender.key.address, spec, blob_dir)
    except TaskSpecError as e:
        raise DemoError(f"cannot post the task: {e}") from None
    outcome = sender.send([msg], timeout=_TX_TIMEOUT_SECONDS, gas=post_task_gas(msg))
    task_id = outcome.attribute("post_task", "task_id")
    if task_id is None:
        raise DemoError(f"the post-task transaction {outcome.txhash} emitted no task id")
    return int(task_id)
