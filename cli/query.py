"""`synod query ...`: read chain state through a node, or with --verify over gRPC with proofs.

Without --verify an answer comes from the node's ABCI query routes and is taken on trust. With
--verify it comes from the node's gRPC query server and is accepted only if every entry it was
derived from is proven against an app hash that the light client verified (`synod light init`).
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from google.protobuf import json_format
from google.protobuf.message import Message

from app.core.crypto import PUBKEY_LEN, AddressError, address_bytes_from_pubkey, decode_address
from app.client.querier import AbciQuerier
from cli.common import (
    client_errors,
    emit,
    home_option,
    node_option,
    output_option,
    resolve_node,
    verify_options,
)
from cli.light import verified_answer, verified_tx
from synod.auth.v1 import query_pb2 as auth_query
from synod.bank.v1 import query_pb2 as bank_query
from synod.slashing.v1 import query_pb2 as slashing_query
from synod.staking.v1 import query_pb2 as staking_query
from synod.staking.v1 import staking_pb2

__all__ = ["query", "tx_summary", "format_summary"]


@dataclass(frozen=True)
class _Opts:
    """The options every query command takes."""

    home: str
    node: str | None
    output: str
    verify: bool
    grpc: str | None


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --home, --node, --output, --verify and --grpc, handed to the command as one _Opts."""

    @functools.wraps(command)
    def run(home: str, node: str | None, output: str, verify: bool, grpc: str | None, **kwargs: Any) -> Any:
        return command(_Opts(home, node, output, verify, grpc), **kwargs)

    return home_option(node_option(output_option(verify_options(run))))


def _ask(opts: _Opts, path: str, method: str, request: Message, data: bytes = b"") -> tuple[Any, list[int]]:
    """The answer, and the heights it was verified at (none without --verify)."""
    # The ABCI route /module/... and the module's gRPC method answer with the same message type.
    module = path.split("/")[1]
    if opts.verify:
        return verified_answer(opts.home, opts.node, opts.grpc, module, method, request)
    with client_errors():
        return AbciQuerier(resolve_node(opts.node, opts.home)).ask_all(module, method, request), []


def _emit(opts: _Opts, data: dict, text: str, heights: list[int]) -> None:
    """Print the answer, with the height(s) it was verified at."""
    if heights:
        unique = sorted(set(heights))
        data = {**data, "verified_heights": unique}
        shown = f"height {unique[0]}" if len(unique) == 1 else f"heights {unique} (one per page)"
        text = f"{text}\nverified at {shown}"
    emit(opts.output, data, text)


def _check_address(address: str) -> None:
    """Reject a malformed address before asking the node."""
    try:
        decode_address(address)
    except AddressError as e:
        raise click.BadParameter(str(e), param_hint="ADDRESS") from None


def _absent(what: str, heights: list[int]) -> click.ClickException:
    """A not-found error; with --verify it says the absence itself was proven."""
    proof = f" (its absence is proven at height {heights[0]})" if heights else ""
    return click.ClickException(f"{what} not found{proof}")


@click.group()
def query() -> None:
    """Query chain state (add --verify to check every answer against light-client headers)."""


@query.group()
def auth() -> None:
    """Accounts."""


@query.group()
def bank() -> None:
    """Balances and supply."""


@query.group()
def staking() -> None:
    """Validators, delegations, unbonding and staking parameters."""


@query.group()
def slashing() -> None:
    """Liveness records, handled evidence and slashing parameters."""


@auth.command("account")
@click.argument("address")
@_common
def account(opts: _Opts, address: str) -> None:
    """Show an account's number, sequence and public key."""
    _check_address(address)
    request = auth_query.QueryAccountRequest(address=address)
    resp, heights = _ask(opts, "/auth/account", "Account", request, address.encode())
    if not resp.HasField("account"):
        raise _absent(f"account {address}", heights)
    acc = resp.account
    data = json_format.MessageToDict(acc, preserving_proto_field_name=True)
    data["public_key"] = acc.public_key.hex()
    text = (
        f"address:        {acc.address}\naccount_number: {acc.account_number}\n"
        f"sequence:       {acc.sequence}\npublic_key:     {acc.public_key.hex() or '(not yet set)'}"
    )
    _emit(opts, data, text, heights)


@bank.command("balances")
@click.argument("address")
@_common
def balances(opts: _Opts, address: str) -> None:
    """Show all balances of an address."""
    _check_address(address)
    request = bank_query.QueryAllBalancesRequest(address=address)
    resp, heights = _ask(opts, "/bank/balances", "AllBalances", request, address.encode())
    coins = [{"denom": c.denom, "amount": c.amount} for c in resp.balances]
    text = "\n".join(f"{c['amount']}{c['denom']}" for c in coins) or "(no balances)"
    _emit(opts, {"address": address, "balances": coins}, text, heights)


@bank.command("supply")
@_common
def supply(opts: _Opts) -> None:
    """Show the total supply of every denomination."""
    resp, heights = _ask(opts, "/bank/supply", "Supply", bank_query.QuerySupplyRequest())
    coins = [{"denom": c.denom, "amount": c.amount} for c in resp.supply]
    _emit(opts, {"supply": coins}, "\n".join(f"{c['amount']}{c['denom']}" for c in coins), heights)


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


@query.command("tx")
@click.argument("tx_hash")
@home_option
@node_option
@output_option
@click.option("--verify", is_flag=True, help="Check inclusion and result against light-client headers.")
def tx(tx_hash: str, home: str, node: str | None, output: str, verify: bool) -> None:
    """Show an included transaction by hash: height, result code, gas and events."""
    with client_errors():
        found = resolve_node(node, home).tx(tx_hash)
    if found is None:
        raise click.ClickException(
            f"transaction {tx_hash} not found: it may not be included yet, or the hash is wrong"
        )
    s = tx_summary(found)
    s["tx"] = base64.b64decode(found["tx"]).hex()
    text = format_summary(s)
    if verify:
        proven = verified_tx(home, node, tx_hash, found)
        s.update(
            height=proven.height, code=proven.code, gas_wanted=proven.gas_wanted, gas_used=proven.gas_used
        )
        s.update(
            verified_heights=[proven.height, proven.height + 1], unverified=["codespace", "log", "events"]
        )
        text = (
            f"{format_summary(s)}\nverified at height {proven.height} (inclusion) and {proven.height + 1} "
            "(code and gas; the log and events are not covered by any header)"
        )
    emit(output, s, text)


def _to_dict(message: Message) -> dict:
    """Proto3 JSON with the proto field names, zero values included (so `jailed: false` shows)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _cell(value: object) -> str:
    """Text of one value; booleans as in the JSON output."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _table(headers: tuple[str, ...], rows: list[tuple[object, ...]], empty: str) -> str:
    """Left-aligned columns sized to their widest cell."""
    if not rows:
        return empty
    cells = [headers, *[tuple(_cell(c) for c in r) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _fields(data: dict) -> str:
    """`key: value` lines."""
    width = max(len(k) for k in data) + 1
    return "\n".join(f"{k + ':':{width}} {_cell(v)}" for k, v in data.items())


def _validator_dict(v: staking_pb2.Validator, power: int) -> dict:
    """A validator as JSON, with its power and the CometBFT address of its consensus key."""
    data = _to_dict(v)
    data["power"] = power
    if len(v.consensus_pubkey) == PUBKEY_LEN:
        data["consensus_address"] = address_bytes_from_pubkey(v.consensus_pubkey).hex().upper()
    return data


@staking.command("validators")
@_common
def validators(opts: _Opts) -> None:
    """List every validator with its tokens and the voting power CometBFT was last given."""
    request = staking_query.QueryValidatorsRequest()
    resp, heights = _ask(opts, "/staking/validators", "Validators", request)
    pairs = list(zip(resp.validators, resp.powers, strict=True))
    rows = [(v.operator_address, v.moniker, v.tokens, p, v.jailed, v.tombstoned) for v, p in pairs]
    text = _table(("OPERATOR", "MONIKER", "TOKENS", "POWER", "JAILED", "TOMBSTONED"), rows, "(no validators)")
    _emit(opts, {"validators": [_validator_dict(v, p) for v, p in pairs]}, text, heights)


@staking.command("validator")
@click.argument("address")
@_common
def validator(opts: _Opts, address: str) -> None:
    """Show one validator by its operator address."""
    _check_address(address)
    request = staking_query.QueryValidatorRequest(operator_address=address)
    resp, heights = _ask(opts, "/staking/validator", "Validator", request, address.encode())
    if not resp.HasField("validator"):
        raise _absent(f"validator {address}", heights)
    data = _validator_dict(resp.validator, resp.power)
    _emit(opts, data, _fields(data), heights)


@staking.command("delegations")
@click.argument("address")
@_common
def delegations(opts: _Opts, address: str) -> None:
    """Show a delegator's delegations: shares and their current token value."""
    _check_address(address)
    request = staking_query.QueryDelegationsRequest(delegator_address=address)
    resp, heights = _ask(opts, "/staking/delegations", "Delegations", request, address.encode())
    pairs = list(zip(resp.delegations, resp.balances, strict=True))
    entries = [{**_to_dict(d), "balance": b} for d, b in pairs]
    rows = [(d.validator_address, d.shares, b) for d, b in pairs]
    text = _table(("VALIDATOR", "SHARES", "BALANCE"), rows, "(no delegations)")
    _emit(opts, {"delegator_address": address, "delegations": entries}, text, heights)


@staking.command("unbonding")
@_common
def unbonding(opts: _Opts) -> None:
    """List the unbonding queue: tokens waiting to return, in completion order."""
    request = staking_query.QueryUnbondingRequest()
    resp, heights = _ask(opts, "/staking/unbonding", "Unbonding", request)
    entries = list(resp.entries)
    rows = [
        (e.id, e.delegator_address, e.validator_address, e.creation_height, e.completion_time, e.balance)
        for e in entries
    ]
    headers = ("ID", "DELEGATOR", "VALIDATOR", "CREATED", "COMPLETES_AT", "BALANCE")
    text = _table(headers, rows, "(nothing unbonding)")
    _emit(opts, {"entries": [_to_dict(e) for e in entries]}, text, heights)


@staking.command("params")
@_common
def staking_params(opts: _Opts) -> None:
    """Show the staking parameters."""
    request = staking_query.QueryParamsRequest()
    resp, heights = _ask(opts, "/staking/params", "Params", request)
    data = _to_dict(resp.params)
    _emit(opts, data, _fields(data), heights)


@slashing.command("signing-infos")
@_common
def signing_infos(opts: _Opts) -> None:
    """List each validator's liveness record (missed blocks in the current window)."""
    request = slashing_query.QuerySigningInfosRequest()
    resp, heights = _ask(opts, "/slashing/signing-infos", "SigningInfos", request)
    infos = list(resp.infos)
    rows = [
        (
            i.consensus_address,
            i.operator_address,
            i.start_height,
            i.missed_blocks_counter,
            i.jailed_until,
            i.tombstoned,
        )
        for i in infos
    ]
    headers = ("CONSENSUS_ADDRESS", "OPERATOR", "START", "MISSED", "JAILED_UNTIL", "TOMBSTONED")
    text = _table(headers, rows, "(no signing infos)")
    _emit(opts, {"infos": [_to_dict(i) for i in infos]}, text, heights)


@slashing.command("evidence")
@_common
def evidence(opts: _Opts) -> None:
    """List the misbehavior evidence the chain has handled, by infraction height."""
    request = slashing_query.QueryEvidenceRequest()
    resp, heights = _ask(opts, "/slashing/evidence", "Evidence", request)
    records = list(resp.evidence)
    rows = [(e.height, e.kind, e.operator_address, e.power, e.slashed) for e in records]
    text = _table(("HEIGHT", "KIND", "OPERATOR", "POWER", "SLASHED"), rows, "(no evidence)")
    _emit(opts, {"evidence": [_to_dict(e) for e in records]}, text, heights)


@slashing.command("params")
@_common
def slashing_params(opts: _Opts) -> None:
    """Show the slashing parameters."""
    request = slashing_query.QueryParamsRequest()
    resp, heights = _ask(opts, "/slashing/params", "Params", request)
    data = _to_dict(resp.params)
    _emit(opts, data, _fields(data), heights)
