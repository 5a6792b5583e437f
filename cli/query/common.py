"""What every `synod query` command shares: its options, one Querier, and how answers are printed.

Without --verify an answer comes from the node's ABCI Query (through CometBFT's RPC) and is taken on
trust. With --verify it comes from the node's gRPC query server and is accepted only if every entry
it was derived from is proven against an app hash the light client verified (`synod light init`),
and only if it is fresh enough: not below --min-height, not more than --max-lag blocks behind the
newest header the light client verifies. Both paths run the module's one answer function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click
from google.protobuf import json_format
from google.protobuf.message import Message

from app.client.querier import AbciQuerier, Querier
from app.client.rpc import CometRPC
from app.client.verified import Freshness, VerifiedQuerier, has_trust, light_dir, open_verified_querier
from cli.common import (
    check_address,
    client_errors,
    emit,
    format_fields,
    home_option,
    node_option,
    output_option,
    resolve_grpc,
    resolve_node,
    verify_options,
)
from cli.light import verification_errors

__all__ = [
    "DEFAULT_MAX_LAG",
    "QueryOpts",
    "agent_querier",
    "agent_verify_options",
    "ask",
    "emit_answer",
    "format_bps",
    "format_coin",
    "open_querier",
    "query_options",
    "show_reputation",
    "to_hex_dict",
    "verified_heights",
]

# An honest node answers one or two blocks behind the newest header; ten leaves room for a slow one.
DEFAULT_MAX_LAG = 10


@dataclass(frozen=True)
class QueryOpts:
    """The options every query command takes."""

    home: str
    node: str | None
    output: str
    verify: bool
    grpc: str | None
    min_height: int = 0
    max_lag: int = DEFAULT_MAX_LAG


def query_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --home, --node, --output, --verify, --grpc, --min-height and --max-lag, handed to the
    command as one QueryOpts."""

    @functools.wraps(command)
    def run(
        home: str,
        node: str | None,
        output: str,
        verify: bool,
        grpc: str | None,
        min_height: int,
        max_lag: int,
        **kwargs: Any,
    ) -> Any:
        if (min_height or max_lag != DEFAULT_MAX_LAG) and not verify:
            raise click.UsageError("--min-height and --max-lag judge verified answers: add --verify")
        return command(QueryOpts(home, node, output, verify, grpc, min_height, max_lag), **kwargs)

    run = click.option(
        "--max-lag",
        type=click.IntRange(0),
        default=DEFAULT_MAX_LAG,
        show_default=True,
        help="With --verify: refuse an answer more than this many blocks behind the newest verified header.",
    )(run)
    run = click.option(
        "--min-height",
        type=click.IntRange(0),
        default=0,
        help="With --verify: refuse an answer verified below this height (a node serving old state).",
    )(run)
    return home_option(node_option(output_option(verify_options(run))))


@contextmanager
def open_querier(opts: QueryOpts) -> Iterator[Querier]:
    """The querier the options ask for; any failure (unreachable, refused, unverifiable) is a click
    error naming it."""
    with verification_errors(), client_errors():
        rpc = resolve_node(opts.node, opts.home)
        if not opts.verify:
            yield AbciQuerier(rpc)
            return
        freshness = Freshness(min_height=opts.min_height, max_lag=opts.max_lag)
        querier = open_verified_querier(
            light_dir(opts.home), rpc, resolve_grpc(opts.grpc, opts.home), freshness
        )
        try:
            yield querier
        finally:
            querier.client.close()


def agent_verify_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--verify/--no-verify` and `--grpc` for an agent: by default its reads are verified whenever
    --home holds a trust anchor (`synod light init`)."""
    command = click.option(
        "--grpc",
        default=None,
        help="gRPC query address HOST:PORT for verified reads (default: from --home's config/app.toml).",
    )(command)
    return click.option(
        "--verify/--no-verify",
        "verify",
        default=None,
        help="Prove every read against light-client headers (default: when --home has a trust anchor; "
        "--verify without one is an error).",
    )(command)


def agent_querier(home: str, rpc: CometRPC, grpc: str | None, verify: bool | None) -> VerifiedQuerier | None:
    """The verifying querier an agent reads through, or None when its reads are not verified."""
    directory = light_dir(home)
    if verify is False or (verify is None and not has_trust(directory)):
        return None
    with verification_errors():
        freshness = Freshness(max_lag=DEFAULT_MAX_LAG)
        return open_verified_querier(directory, rpc, resolve_grpc(grpc, home), freshness)


def verified_heights(opts: QueryOpts, querier: Querier) -> list[int]:
    """The height the last answer was verified at, as a list (empty without --verify)."""
    return [querier.last_height] if opts.verify else []


def ask(opts: QueryOpts, module: str, method: str, request: Message) -> tuple[Any, list[int]]:
    """The answer (every page of a list) and the height it was verified at (none without --verify)."""
    with open_querier(opts) as querier:
        answer = querier.ask_all(module, method, request)
        return answer, verified_heights(opts, querier)


def to_hex_dict(message: Message) -> dict[str, Any]:
    """Proto3 JSON with the proto field names and zero values; bytes as hex (nested too), not base64."""
    data = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    for field, value in message.ListFields():
        if isinstance(value, bytes):
            data[field.name] = value.hex()
        elif isinstance(value, Message):
            data[field.name] = to_hex_dict(value)
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            data[field.name] = [to_hex_dict(v) for v in value]
    return data


def format_bps(bps: int) -> str:
    """Basis points as a percentage: 8125 -> 81.25%."""
    return f"{bps / 100:.2f}%"


def format_coin(c: Any) -> str:
    """A proto coin as 123usyn."""
    return f"{c.amount or 0}{c.denom}"


def show_reputation(opts: QueryOpts, address: str, read: Callable[[Querier, str], Any]) -> None:
    """Print a reputation record read by read(querier, address) (the initial one when it has none)."""
    check_address(address)
    with open_querier(opts) as querier:
        r = read(querier, address)
        heights = verified_heights(opts, querier)
    note = " (no record yet: the initial reputation)" if r.observations == 0 else ""
    text = format_fields(
        {
            "address": r.address,
            "reputation": f"{format_bps(r.score_bps)}{note}",
            "observations": r.observations,
        }
    )
    emit_answer(opts, to_hex_dict(r), text, heights)


def emit_answer(opts: QueryOpts, data: dict, text: str, heights: list[int]) -> None:
    """Print the answer, with the height it was verified at."""
    if heights:
        data = {**data, "verified_height": heights[0]}
        text = f"{text}\nverified at height {heights[0]}"
    emit(opts.output, data, text)
