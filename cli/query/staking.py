"""`synod query staking ...`: validators, delegations, unbonding and staking parameters."""

from __future__ import annotations

import click

from app.core.crypto import PUBKEY_LEN, address_bytes_from_pubkey
from cli.common import absent_error, check_address, format_fields, format_table, to_dict
from cli.query.common import QueryOpts, ask, emit_answer, query_options
from synod.staking.v1 import query_pb2 as staking_query
from synod.staking.v1 import staking_pb2

__all__ = ["staking"]


@click.group()
def staking() -> None:
    """Validators, delegations, unbonding and staking parameters."""


def _validator_dict(v: staking_pb2.Validator, power: int) -> dict:
    """A validator as JSON, with its power and the CometBFT address of its consensus key."""
    data = to_dict(v)
    data["power"] = power
    if len(v.consensus_pubkey) == PUBKEY_LEN:
        data["consensus_address"] = address_bytes_from_pubkey(v.consensus_pubkey).hex().upper()
    return data


@staking.command("validators")
@query_options
def validators(opts: QueryOpts) -> None:
    """List every validator with its tokens and the voting power CometBFT was last given."""
    request = staking_query.QueryValidatorsRequest()
    resp, heights = ask(opts, "staking", "Validators", request)
    pairs = list(zip(resp.validators, resp.powers, strict=True))
    rows = [(v.operator_address, v.moniker, v.tokens, p, v.jailed, v.tombstoned) for v, p in pairs]
    text = format_table(
        ("OPERATOR", "MONIKER", "TOKENS", "POWER", "JAILED", "TOMBSTONED"), rows, "(no validators)"
    )
    emit_answer(opts, {"validators": [_validator_dict(v, p) for v, p in pairs]}, text, heights)


@staking.command("validator")
@click.argument("address")
@query_options
def validator(opts: QueryOpts, address: str) -> None:
    """Show one validator by its operator address."""
    check_address(address)
    request = staking_query.QueryValidatorRequest(operator_address=address)
    resp, heights = ask(opts, "staking", "Validator", request)
    if not resp.HasField("validator"):
        raise absent_error(f"validator {address}", heights)
    data = _validator_dict(resp.validator, resp.power)
    emit_answer(opts, data, format_fields(data), heights)


@staking.command("delegations")
@click.argument("address")
@query_options
def delegations(opts: QueryOpts, address: str) -> None:
    """Show a delegator's delegations: shares and their current token value."""
    check_address(address)
    request = staking_query.QueryDelegationsRequest(delegator_address=address)
    resp, heights = ask(opts, "staking", "Delegations", request)
    pairs = list(zip(resp.delegations, resp.balances, strict=True))
    entries = [{**to_dict(d), "balance": b} for d, b in pairs]
    rows = [(d.validator_address, d.shares, b) for d, b in pairs]
    text = format_table(("VALIDATOR", "SHARES", "BALANCE"), rows, "(no delegations)")
    emit_answer(opts, {"delegator_address": address, "delegations": entries}, text, heights)


@staking.command("unbonding")
@query_options
def unbonding(opts: QueryOpts) -> None:
    """List the unbonding queue: tokens waiting to return, in completion order."""
    request = staking_query.QueryUnbondingRequest()
    resp, heights = ask(opts, "staking", "Unbonding", request)
    entries = list(resp.entries)
    rows = [
        (e.id, e.delegator_address, e.validator_address, e.creation_height, e.completion_time, e.balance)
        for e in entries
    ]
    headers = ("ID", "DELEGATOR", "VALIDATOR", "CREATED", "COMPLETES_AT", "BALANCE")
    text = format_table(headers, rows, "(nothing unbonding)")
    emit_answer(opts, {"entries": [to_dict(e) for e in entries]}, text, heights)


@staking.command("params")
@query_options
def staking_params(opts: QueryOpts) -> None:
    """Show the staking parameters."""
    request = staking_query.QueryParamsRequest()
    resp, heights = ask(opts, "staking", "Params", request)
    data = to_dict(resp.params)
    emit_answer(opts, data, format_fields(data), heights)
