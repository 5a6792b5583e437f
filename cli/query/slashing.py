"""`synod query slashing ...`: liveness records, handled evidence and slashing parameters."""

from __future__ import annotations

import click

from cli.common import format_fields, format_table, to_dict
from cli.query.common import QueryOpts, ask, emit_answer, query_options
from synod.slashing.v1 import query_pb2 as slashing_query

__all__ = ["slashing"]


@click.group()
def slashing() -> None:
    """Liveness records, handled evidence and slashing parameters."""


@slashing.command("signing-infos")
@query_options
def signing_infos(opts: QueryOpts) -> None:
    """List each validator's liveness record (missed blocks in the current window)."""
    request = slashing_query.QuerySigningInfosRequest()
    resp, heights = ask(opts, "slashing", "SigningInfos", request)
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
    text = format_table(headers, rows, "(no signing infos)")
    emit_answer(opts, {"infos": [to_dict(i) for i in infos]}, text, heights)


@slashing.command("evidence")
@query_options
def evidence(opts: QueryOpts) -> None:
    """List the misbehavior evidence the chain has handled, by infraction height."""
    request = slashing_query.QueryEvidenceRequest()
    resp, heights = ask(opts, "slashing", "Evidence", request)
    records = list(resp.evidence)
    rows = [(e.height, e.kind, e.operator_address, e.power, e.slashed) for e in records]
    text = format_table(("HEIGHT", "KIND", "OPERATOR", "POWER", "SLASHED"), rows, "(no evidence)")
    emit_answer(opts, {"evidence": [to_dict(e) for e in records]}, text, heights)


@slashing.command("params")
@query_options
def slashing_params(opts: QueryOpts) -> None:
    """Show the slashing parameters."""
    request = slashing_query.QueryParamsRequest()
    resp, heights = ask(opts, "slashing", "Params", request)
    data = to_dict(resp.params)
    emit_answer(opts, data, format_fields(data), heights)
