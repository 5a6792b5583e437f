"""`synod light ...`: the light client's trust anchor, and the errors of verified reads (the query
commands' `--verify`, cli/query/common.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import click

from app.client.grpc_query import QueryRejected, QueryUnavailable
from app.client.light import LightClientError, TrustedStore, now_timestamp
from app.client.light.hashing import header_hash
from app.client.light.timestamps import format_rfc3339
from app.client.querier import MixedHeights
from app.client.rpc import RpcError
from app.client.verified import (
    DEFAULT_TRUSTING_PERIOD_S,
    LightNotInitialized,
    VerificationError,
    init_trust,
    light_dir,
    load_trust,
    open_light_client,
)
from app.client.verified.txproof import VerifiedTx, verify_tx
from cli.common import (
    emit,
    home_option,
    node_option,
    output_option,
    resolve_chain_id,
    resolve_node,
)

__all__ = ["light", "parse_duration", "verification_errors", "verification_failures", "verified_tx"]

_DURATION_RE = re.compile(r"(\d+)([hms])")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int:
    """Seconds in `604800`, `168h`, `90m`, `1h30m0s` (CometBFT's duration style)."""
    if text.isdigit():
        seconds = int(text)
    elif re.fullmatch(r"(\d+[hms])+", text):
        seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_RE.findall(text))
    else:
        raise click.BadParameter(f"{text!r} is not a duration like 168h, 90m or 3600s")
    if seconds <= 0:
        raise click.BadParameter("the trusting period must be positive")
    return seconds


@contextmanager
def verification_failures() -> Iterator[None]:
    """A served answer or header its proofs do not show, as a click error naming the check (exit 1)."""
    try:
        yield
    except (VerificationError, LightClientError) as e:
        raise click.ClickException(f"verification failed: {type(e).__name__}: {e}") from None


@contextmanager
def verification_errors() -> Iterator[None]:
    """Turn every way a verified read can fail into a click error that names it (exit 1)."""
    try:
        with verification_failures():
            yield
    except (LightNotInitialized, QueryUnavailable, QueryRejected, MixedHeights, RpcError, ValueError) as e:
        raise click.ClickException(str(e)) from None


def verified_tx(home: str, node: str | None, tx_hash: str, found: dict) -> VerifiedTx:
    """The node's /tx answer checked against verified headers (inclusion and result)."""
    with verification_errors():
        rpc = resolve_node(node, home)
        # The hash asked for, never the one the node echoes back.
        wanted = bytes.fromhex(tx_hash.removeprefix("0x").removeprefix("0X"))
        return verify_tx(open_light_client(light_dir(home), rpc), rpc, wanted, found)


@click.group()
def light() -> None:
    """Light client: trust one header, then verify query answers (`synod query ... --verify`)."""


@light.command("init")
@home_option
@node_option
@output_option
@click.option("--trust-height", type=int, default=None, help="Height of a header you trust (default: first).")
@click.option("--trust-hash", default=None, help="Hex hash of that header, from a source you trust.")
@click.option("--trust-period", default="168h", show_default=True, help="Trusting period (168h, 3600s...).")
@click.option("--chain-id", default=None, help="Chain id (default: --home's genesis, else the node's).")
@click.option("--force", is_flag=True, help="Replace an existing trust anchor.")
def init(
    home: str,
    node: str | None,
    output: str,
    trust_height: int | None,
    trust_hash: str | None,
    trust_period: str,
    chain_id: str | None,
    force: bool,
) -> None:
    """Verify a trusted header's commit and store it under HOME/light."""
    period = parse_duration(trust_period) if trust_period else DEFAULT_TRUSTING_PERIOD_S
    try:
        block_hash = bytes.fromhex(trust_hash) if trust_hash is not None else None
    except ValueError:
        raise click.BadParameter(f"{trust_hash!r} is not hex", param_hint="--trust-hash") from None
    with verification_errors():
        rpc = resolve_node(node, home)
        chain = resolve_chain_id(chain_id, home, rpc)
        try:
            state = init_trust(light_dir(home), rpc, chain, trust_height, block_hash, period, force)
        except FileExistsError as e:
            raise click.ClickException(str(e)) from None
    source = "as given" if block_hash is not None else f"as served by {rpc.url} (trust on first use)"
    data = {
        "chain_id": state.chain_id,
        "trust_height": state.height,
        "trust_hash": state.hash.hex().upper(),
        "trusting_period_seconds": state.period_seconds,
        "directory": str(light_dir(home)),
    }
    text = (
        f"trusted header {state.height} of {state.chain_id}: {state.hash.hex().upper()} ({source}); "
        f"its commit verified.\ntrusting period {state.period_seconds}s; stored in {light_dir(home)}"
    )
    emit(output, data, text)
    if block_hash is None:
        click.echo("check this hash against a source you trust before relying on verified reads", err=True)


@light.command("status")
@home_option
@output_option
def status(home: str, output: str) -> None:
    """Show the trust anchor and the newest header verified so far (reads HOME/light only)."""
    directory = light_dir(home)
    with verification_errors():
        state = load_trust(directory)
        store = TrustedStore(directory / "blocks")
        latest = store.latest()
    data: dict = {
        "chain_id": state.chain_id,
        "trust_height": state.height,
        "trust_hash": state.hash.hex().upper(),
        "trusting_period_seconds": state.period_seconds,
        "headers_stored": len(store.heights()),
    }
    if latest is not None:
        header = latest.header
        expires = (header.time[0] + state.period_seconds, header.time[1])
        data.update(
            latest_height=header.height,
            latest_hash=header_hash(header).hex().upper(),
            latest_time=format_rfc3339(header.time),
            # A header carries the app hash of the state committed one height below it.
            state_height=header.height - 1,
            state_app_hash=header.app_hash.hex().upper(),
            expires=format_rfc3339(expires),
            expired=expires <= now_timestamp(),
        )
    width = max(len(k) for k in data) + 1
    emit(output, data, "\n".join(f"{k + ':':{width}} {v}" for k, v in data.items()))
