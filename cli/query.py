"""`synod query ...`: read chain state through a node."""

from __future__ import annotations

import base64

import click
from google.protobuf import json_format
from google.protobuf.message import Message

from app.core.crypto import PUBKEY_LEN, AddressError, address_bytes_from_pubkey, decode_address
from cli.chainquery import abci_query, get_account, get_balances
from cli.common import client_errors, emit, home_option, node_option, output_option, resolve_node
from synod.bank.v1 import query_pb2 as bank_query
from synod.slashing.v1 import slashing_pb2
from synod.staking.v1 import query_pb2 as staking_query
from synod.staking.v1 import staking_pb2

__all__ = ["query"]


def _check_address(address: str) -> None:
    """Reject a malformed address before asking the node."""
    try:
        decode_address(address)
    except AddressError as e:
        raise click.BadParameter(str(e), param_hint="ADDRESS") from None


@click.group()
def query() -> None:
    """Query chain state."""


@query.group()
def auth() -> None:
    """Accounts."""


@query.group()
def bank() -> None:
    """Balances and supply."""


def _common(command):  # noqa: ANN001, ANN202 - decorator stack shared by every query
    return home_option(node_option(output_option(command)))


@auth.command("account")
@click.argument("address")
@_common
def account(address: str, home: str, node: str | None, output: str) -> None:
    """Show an account's number, sequence and public key."""
    _check_address(address)
    with client_errors():
        acc = get_account(resolve_node(node, home), address)
    data = json_format.MessageToDict(acc, preserving_proto_field_name=True)
    data["public_key"] = acc.public_key.hex()
    text = (
        f"address:        {acc.address}\naccount_number: {acc.account_number}\n"
        f"sequence:       {acc.sequence}\npublic_key:     {acc.public_key.hex() or '(not yet set)'}"
    )
    emit(output, data, text)


@bank.command("balances")
@click.argument("address")
@_common
def balances(address: str, home: str, node: str | None, output: str) -> None:
    """Show all balances of an address."""
    _check_address(address)
    with client_errors():
        resp = get_balances(resolve_node(node, home), address)
    coins = [{"denom": c.denom, "amount": c.amount} for c in resp.balances]
    text = "\n".join(f"{c['amount']}{c['denom']}" for c in coins) or "(no balances)"
    emit(output, {"address": address, "balances": coins}, text)


@bank.command("supply")
@_common
def supply(home: str, node: str | None, output: str) -> None:
    """Show the total supply of every denomination."""
    with client_errors():
        resp = abci_query(resolve_node(node, home), "/bank/supply", b"", bank_query.QuerySupplyResponse)
    coins = [{"denom": c.denom, "amount": c.amount} for c in resp.supply]  # type: ignore[attr-defined]
    emit(output, {"supply": coins}, "\n".join(f"{c['amount']}{c['denom']}" for c in coins))


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
@_common
def tx(tx_hash: str, home: str, node: str | None, output: str) -> None:
    """Show an included transaction by hash: height, result code, gas and events."""
    with client_errors():
        found = resolve_node(node, home).tx(tx_hash)
    if found is None:
        raise click.ClickException(
            f"transaction {tx_hash} not found: it may not be included yet, or the hash is wrong"
        )
    s = tx_summary(found)
    s["tx"] = base64.b64decode(found["tx"]).hex()
    emit(output, s, format_summary(s))


# --- staking and slashing ---------------------------------------------------------------------------


@query.group()
def staking() -> None:
    """Validators, delegations, unbonding and staking parameters."""


@query.group()
def slashing() -> None:
    """Liveness records, handled evidence and slashing parameters."""


def _to_dict(message: Message) -> dict:
    """Proto3 JSON with the proto field names, zero values included (so `jailed: false` shows)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _ask(node: str | None, home: str, path: str, response: type[Message], data: bytes = b"") -> Message:
    """One app query through the node, errors reported as click errors."""
    with client_errors():
        return abci_query(resolve_node(node, home), path, data, response)


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
def validators(home: str, node: str | None, output: str) -> None:
    """List every validator with its tokens and the voting power CometBFT was last given."""
    resp = _ask(node, home, "/staking/validators", staking_query.QueryValidatorsResponse)
    pairs = list(zip(resp.validators, resp.powers, strict=True))  # type: ignore[attr-defined]
    rows = [(v.operator_address, v.moniker, v.tokens, p, v.jailed, v.tombstoned) for v, p in pairs]
    text = _table(("OPERATOR", "MONIKER", "TOKENS", "POWER", "JAILED", "TOMBSTONED"), rows, "(no validators)")
    emit(output, {"validators": [_validator_dict(v, p) for v, p in pairs]}, text)


@staking.command("validator")
@click.argument("address")
@_common
def validator(address: str, home: str, node: str | None, output: str) -> None:
    """Show one validator by its operator address."""
    _check_address(address)
    resp = _ask(node, home, "/staking/validator", staking_query.QueryValidatorResponse, address.encode())
    data = _validator_dict(resp.validator, resp.power)  # type: ignore[attr-defined]
    emit(output, data, _fields(data))


@staking.command("delegations")
@click.argument("address")
@_common
def delegations(address: str, home: str, node: str | None, output: str) -> None:
    """Show a delegator's delegations: shares and their current token value."""
    _check_address(address)
    resp = _ask(node, home, "/staking/delegations", staking_query.QueryDelegationsResponse, address.encode())
    pairs = list(zip(resp.delegations, resp.balances, strict=True))  # type: ignore[attr-defined]
    entries = [{**_to_dict(d), "balance": b} for d, b in pairs]
    rows = [(d.validator_address, d.shares, b) for d, b in pairs]
    text = _table(("VALIDATOR", "SHARES", "BALANCE"), rows, "(no delegations)")
    emit(output, {"delegator_address": address, "delegations": entries}, text)


@staking.command("unbonding")
@_common
def unbonding(home: str, node: str | None, output: str) -> None:
    """List the unbonding queue: tokens waiting to return, in completion order."""
    resp = _ask(node, home, "/staking/unbonding", staking_query.QueryUnbondingResponse)
    entries = list(resp.entries)  # type: ignore[attr-defined]
    rows = [
        (e.id, e.delegator_address, e.validator_address, e.creation_height, e.completion_time, e.balance)
        for e in entries
    ]
    headers = ("ID", "DELEGATOR", "VALIDATOR", "CREATED", "COMPLETES_AT", "BALANCE")
    emit(output, {"entries": [_to_dict(e) for e in entries]}, _table(headers, rows, "(nothing unbonding)"))


@staking.command("params")
@_common
def staking_params(home: str, node: str | None, output: str) -> None:
    """Show the staking parameters."""
    resp = _ask(node, home, "/staking/params", staking_query.QueryParamsResponse)
    data = _to_dict(resp.params)  # type: ignore[attr-defined]
    emit(output, data, _fields(data))


@slashing.command("signing-infos")
@_common
def signing_infos(home: str, node: str | None, output: str) -> None:
    """List each validator's liveness record (missed blocks in the current window)."""
    resp = _ask(node, home, "/slashing/signing-infos", slashing_pb2.QuerySigningInfosResponse)
    infos = list(resp.infos)  # type: ignore[attr-defined]
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
    emit(output, {"infos": [_to_dict(i) for i in infos]}, _table(headers, rows, "(no signing infos)"))


@slashing.command("evidence")
@_common
def evidence(home: str, node: str | None, output: str) -> None:
    """List the misbehavior evidence the chain has handled, by infraction height."""
    resp = _ask(node, home, "/slashing/evidence", slashing_pb2.QueryEvidenceResponse)
    records = list(resp.evidence)  # type: ignore[attr-defined]
    rows = [(e.height, e.kind, e.operator_address, e.power, e.slashed) for e in records]
    text = _table(("HEIGHT", "KIND", "OPERATOR", "POWER", "SLASHED"), rows, "(no evidence)")
    emit(output, {"evidence": [_to_dict(e) for e in records]}, text)


@slashing.command("params")
@_common
def slashing_params(home: str, node: str | None, output: str) -> None:
    """Show the slashing parameters."""
    resp = _ask(node, home, "/slashing/params", slashing_pb2.QueryParamsResponse)
    data = _to_dict(resp.params)  # type: ignore[attr-defined]
    emit(output, data, _fields(data))
