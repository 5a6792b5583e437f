"""Options and helpers shared by the `synod` commands (Cosmos SDK conventions).

Every name here is used by more than one command file: the common options, node and chain
resolution, output, the signing key, transaction sending and the formatting of answers. (The
trusted-or-verified read behind `synod query ... --verify` is in cli/light.py.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click
from google.protobuf import json_format
from google.protobuf.message import Message

from app.agents.pace import NEXT_BLOCK_POLLS
from app.agents.retry import Retrier
from app.client.keyring import Keyring, KeyringError
from app.client.rpc import CometRPC, RpcError
from app.client.sender import SenderError, TxOutcome, TxRejected, TxSender
from app.core.coins import Coins, parse_coins
from app.core.crypto import AddressError, PrivateKey, decode_address
from app.core.errors import SynodError
from app.node.config import DEFAULT_GRPC_ADDRESS, NodeHome, load_app_config, read_toml
from synod.base.v1 import coin_pb2

__all__ = [
    "default_home",
    "home_option",
    "output_option",
    "node_option",
    "poll_option",
    "basic_options",
    "resolve_node",
    "verify_options",
    "resolve_grpc",
    "resolve_chain_id",
    "emit",
    "client_errors",
    "check_address",
    "stop_on_sigterm",
    "load_key",
    "from_option",
    "tx_options",
    "single_coin",
    "send_tx",
    "tx_summary",
    "format_summary",
    "to_dict",
    "format_table",
    "format_fields",
    "absent_error",
]

_DEFAULT_NODE = "tcp://127.0.0.1:26657"


def default_home() -> str:
    """`$SYNOD_HOME`, else `~/.synod`."""
    return os.environ.get("SYNOD_HOME") or str(Path.home() / ".synod")


def home_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--home`, defaulting to `$SYNOD_HOME` or `~/.synod`."""
    return click.option(
        "--home",
        type=click.Path(file_okay=False),
        default=default_home,
        show_default="$SYNOD_HOME or ~/.synod",
        help="Node home directory (config, data, keyring).",
    )(command)


def output_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--output text|json`."""
    return click.option(
        "--output",
        "-o",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Output format.",
    )(command)


def node_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--node`, the CometBFT RPC address (default: the one in HOME's config.toml)."""
    return click.option(
        "--node",
        default=None,
        help="CometBFT RPC address, e.g. tcp://127.0.0.1:26657 (default: from --home's config).",
    )(command)


def poll_option(default: float, minimum: float = 0.05) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add an agent's `--poll SECONDS` (how it paces its looks at the chain: app/agents/pace.py)."""
    return click.option(
        "--poll",
        type=click.FloatRange(minimum),
        default=default,
        show_default=True,
        help="Seconds between polls of the node's /status while its block subscription (websocket) is "
        f"down. While it is up the agent looks again at each new block, waiting at most {NEXT_BLOCK_POLLS} "
        "times this.",
    )


def basic_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --home, --node and --output."""
    return home_option(node_option(output_option(command)))


def verify_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--verify` (answer over gRPC, checked by the light client) and `--grpc`."""
    command = click.option(
        "--grpc",
        default=None,
        help="gRPC query address HOST:PORT for --verify (default: from --home's config/app.toml, "
        f"else {DEFAULT_GRPC_ADDRESS}).",
    )(command)
    return click.option(
        "--verify",
        is_flag=True,
        help="Read over gRPC and check every proof against a header the light client verified "
        "(`synod light init` first); fail unless it verifies.",
    )(command)


def resolve_grpc(grpc: str | None, home: str) -> str:
    """--grpc, else the home's grpc_address (config/app.toml), else the default."""
    if grpc:
        return grpc
    node = NodeHome(home)
    configured = load_app_config(node).grpc_address if node.app_toml.exists() else ""
    return configured or DEFAULT_GRPC_ADDRESS


def resolve_node(node: str | None, home: str) -> CometRPC:
    """The RPC client for --node, else the home's configured RPC address, else the default."""
    if node is None:
        config = NodeHome(home).config_toml
        node = read_toml(config)["rpc"]["laddr"] if config.exists() else _DEFAULT_NODE
    url = node.replace("tcp://", "http://", 1)
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    return CometRPC(url)


def resolve_chain_id(chain_id: str | None, home: str, rpc: CometRPC, retry: Retrier | None = None) -> str:
    """--chain-id, else the home's genesis, else what the node reports: through retry where given
    (a long-running agent started while its node is down waits for it, saying so once)."""
    if chain_id:
        return chain_id
    genesis = NodeHome(home).genesis
    if genesis.exists():
        return _genesis_chain_id(genesis)
    if retry is not None:
        return retry("reading the chain id", rpc.status)["node_info"]["network"]
    return rpc.status()["node_info"]["network"]


def _genesis_chain_id(genesis: Path) -> str:
    """The chain_id of a genesis file, or a click error naming the file and what is wrong with it."""
    fix = "fix the genesis file or pass --chain-id"
    try:
        doc = json.loads(genesis.read_text(encoding="utf-8"))
    except OSError as e:
        raise click.ClickException(f"cannot read {genesis} ({e.strerror}): {fix}") from None
    except ValueError as e:  # invalid JSON, or bytes that are not UTF-8
        raise click.ClickException(f"{genesis} is not UTF-8 JSON ({e}): {fix}") from None
    if not isinstance(doc, dict):
        raise click.ClickException(f"{genesis} is not a JSON object: {fix}")
    if "chain_id" not in doc:
        raise click.ClickException(f"{genesis} has no chain_id: {fix}")
    found = doc["chain_id"]
    if not isinstance(found, str) or not found:
        raise click.ClickException(f"{genesis}: chain_id must be a non-empty string, not {found!r}: {fix}")
    return found


def emit(output: str, data: dict[str, Any], text: str) -> None:
    """Print JSON or the human text."""
    click.echo(json.dumps(data, indent=2) if output == "json" else text)


@contextmanager
def client_errors() -> Iterator[None]:
    """Turn node and input errors into click errors (exit 1, the message says what to do)."""
    try:
        yield
    except RpcError as e:
        raise click.ClickException(str(e)) from None
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None


def stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    """A SIGTERM handler for agents: treat a supervisor stopping us like Ctrl-C (finish with the summary)."""
    raise KeyboardInterrupt


def check_address(address: str, hint: str = "ADDRESS") -> str:
    """Reject a malformed address before asking the node or signing anything."""
    try:
        decode_address(address)
    except AddressError as e:
        raise click.BadParameter(str(e), param_hint=hint) from None
    return address


def absent_error(what: str, heights: list[int]) -> click.ClickException:
    """A not-found error; with --verify it says the absence itself was proven."""
    proof = f" (its absence is proven at height {heights[0]})" if heights else ""
    return click.ClickException(f"{what} not found{proof}")


def load_key(home: str, name_or_address: str) -> PrivateKey:
    """The signing key for a key name or address from the keyring."""
    try:
        return Keyring(home).private_key(name_or_address)
    except KeyringError as e:
        raise click.ClickException(str(e)) from None


def from_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the required `--from KEY` that signs, as Cosmos SDK's `simd tx` commands take it."""
    return click.option(
        "--from",
        "from_key",
        required=True,
        help="The signing key: a key name or address in --home's keyring.",
    )(command)


def tx_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The flags every tx command takes (besides --from): fee, gas, memo, chain, confirmation, waiting."""
    for option in reversed(
        [
            click.option("--fees", default=None, help="Fee, e.g. 200000usyn (default: gas x min gas price)."),
            click.option(
                "--gas",
                default=None,
                type=click.IntRange(1),
                help="Gas limit (default: estimated from the message size).",
            ),
            click.option("--memo", default="", help="Note stored with the transaction."),
            click.option(
                "--chain-id", default=None, help="Chain id (default: from --home's genesis or the node)."
            ),
            click.option("--yes", "-y", is_flag=True, help="Sign and broadcast without asking."),
            click.option(
                "--no-wait", is_flag=True, help="Return after CheckTx instead of waiting for a block."
            ),
        ]
    ):
        command = option(command)
    return basic_options(command)


def single_coin(amount: str, hint: str) -> coin_pb2.Coin:
    """Parse one coin such as 1000000usyn (the chain checks that the denom is the one it wants)."""
    try:
        coins = parse_coins(amount)
    except SynodError as e:
        raise click.BadParameter(str(e), param_hint=hint) from None
    if len(coins) != 1:
        raise click.BadParameter(
            f"give one amount in one denom, like 1000000usyn, not {amount}", param_hint=hint
        )
    ((denom, value),) = coins
    return coin_pb2.Coin(denom=denom, amount=str(value))


def _parse_fees(fees: str | None) -> Coins | None:
    """--fees as coins, or None when not given."""
    try:
        return parse_coins(fees) if fees else None
    except SynodError as e:
        raise click.BadParameter(str(e), param_hint="--fees") from None


def _confirm(summary: str, fee: object, gas: int, chain: str) -> None:
    """Ask before signing (abort on no)."""
    click.confirm(
        f"{summary}\nfee {fee}, gas {gas}, chain {chain}. Sign and broadcast?", abort=True, err=True
    )


def _report(output: str, found: dict, added: Callable[[dict], dict] | None = None) -> None:
    """Print an included tx (and what `added` derives from it); fail if it failed."""
    s = tx_summary(found)
    extra = added(found) if added is not None and s["code"] == 0 else {}
    s.update(extra)
    emit(output, s, "\n".join([format_summary(s), *(f"{k:10} {v}" for k, v in extra.items())]))
    if s["code"]:
        raise click.ClickException(f"transaction failed in block {s['height']}: {s['log']}")


def send_tx(
    key: PrivateKey,
    msgs: list[Message],
    opts: dict[str, Any],
    summary: str,
    extra: Callable[[TxOutcome], dict] | None = None,
) -> None:
    """Sign (gas from the message size unless --gas), confirm, broadcast, wait, print the result.

    `opts` are the tx_options; `extra` adds fields derived from the included tx's events. Every tx
    command sends through this one app.client.sender.TxSender, as the agents do.
    """
    with client_errors():
        rpc = resolve_node(opts["node"], opts["home"])
        sender = TxSender(rpc, key, resolve_chain_id(opts["chain_id"], opts["home"], rpc))
        fees = _parse_fees(opts["fees"])
        try:
            prepared = sender.prepare(msgs, gas=opts["gas"], fees=fees, memo=opts["memo"])
            if not opts["yes"]:
                _confirm(summary, prepared.fee, prepared.gas, prepared.chain_id)
            txhash = sender.broadcast(prepared)
        except (SenderError, TxRejected) as e:
            raise click.ClickException(str(e)) from None
        if opts["no_wait"]:
            emit(opts["output"], {"txhash": txhash, "code": 0}, f"txhash {txhash} (in mempool)")
            return
        found = rpc.wait_for_tx(txhash)
    _report(opts["output"], found, None if extra is None else lambda f: extra(TxOutcome(f)))


def tx_summary(found: dict) -> dict:
    """The fields people want from a /tx answer."""
    result = found["tx_result"]
    return {
        "txhash": found["hash"],
        "height": int(found["height"]),
        "code": int(result.get("code", 0)),
        "codespace": result.get("codespace", ""),
        "log": result.get("log", ""),
        "gas_wanted": int(result.get("gas_wanted", 0)),
        "gas_used": int(result.get("gas_used", 0)),
        "events": [
            {
                "type": e["type"],
                "attributes": {a["key"]: a.get("value", "") for a in e.get("attributes", [])},
            }
            for e in result.get("events", [])
        ],
    }


def format_summary(s: dict) -> str:
    """Text form of a tx summary."""
    lines = [f"{k:10} {s[k]}" for k in ("txhash", "height", "code", "gas_wanted", "gas_used")]
    if s["code"]:
        lines.append(f"{'log':10} {s['log']}")
    return "\n".join(lines)


def to_dict(message: Message) -> dict:
    """Proto3 JSON with the proto field names, zero values included (so `jailed: false` shows)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _cell(value: object) -> str:
    """Text of one value; booleans as in the JSON output."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def format_table(headers: tuple[str, ...], rows: list[tuple[object, ...]], empty: str) -> str:
    """Left-aligned columns sized to their widest cell."""
    if not rows:
        return empty
    cells = [headers, *[tuple(_cell(c) for c in r) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def format_fields(data: dict) -> str:
    """`key: value` lines."""
    width = max(len(k) for k in data) + 1
    return "\n".join(f"{k + ':':{width}} {_cell(v)}" for k, v in data.items())
