"""`synod query consensus ...`: prediction queries, their rounds, participants and settled answers,
the fast-path ensemble and consensus reputations.

Answers come from the node's ABCI query routes and are taken on trust: the consensus module has no
gRPC service yet, so there is no --verify here (unlike `synod query bank|staking|...`).
"""

from __future__ import annotations

import click

from app.client.consensus import ConsensusClient
from cli.common import format_fields, format_table
from cli.query.common import (
    QueryOpts,
    emit_answer,
    format_bps,
    format_coin,
    open_querier,
    query_options,
    show_reputation,
    to_hex_dict,
    verified_heights,
)
from synod.consensus.v1 import consensus_pb2

__all__ = ["consensus_query"]

_RUNNING = ("commit", "reveal")


def _status(status: int) -> str:
    """QUERY_STATUS_SETTLED -> settled."""
    return consensus_pb2.QueryStatus.Name(status).removeprefix("QUERY_STATUS_").lower()


@click.group("consensus")
def consensus_query() -> None:
    """Consensus learning: prediction queries, rounds, settled answers, ensemble, reputations."""


@consensus_query.command("params")
@query_options
def params(opts: QueryOpts) -> None:
    """Show the module's limits, slashing rate and reputation settings."""
    with open_querier(opts) as querier:
        p = ConsensusClient(querier).params()
        heights = verified_heights(opts, querier)
    text = format_fields(
        {
            "max inputs": p.max_inputs,
            "max labels": p.max_labels,
            "max rounds": p.max_rounds,
            "max inline bytes": p.max_inline_bytes,
            "max peer sample": p.max_peer_sample,
            "missed reveal slash": f"{format_bps(p.missed_reveal_slash_bps)} of the stake per missed reveal",
            "reputation": f"starts at {format_bps(p.initial_reputation_bps)}, window {p.reputation_window}",
            "fast deadline": f"{p.fast_deadline_blocks} blocks",
        }
    )
    emit_answer(opts, to_hex_dict(p), text, heights)


def _where(phase: str, round_: int, rounds: int, end: int, height: int) -> str:
    """What the query waits for now, e.g. `round 1/2 reveal phase, 2 blocks left (until height 40)`."""
    left = f"{max(end - height, 0)} blocks left (until height {end})"
    if phase in _RUNNING:
        return f"round {round_}/{rounds} {phase} phase, {left}"
    if phase == "settled":
        return f"waiting for the poster's labels, {left}"
    if phase == "pending":
        return f"waiting for the validators' answers, {left}"
    return ""


def _show_text(q: consensus_pb2.PredictionQuery, where: str) -> str:
    """The human form of `query consensus show`."""
    s = q.schedule
    source = f"{len(q.inputs)} bytes inline" if q.inputs else q.inputs_uri
    labels_within = f"labels within {s.label_blocks} blocks of settlement"
    rows = {
        "query": f"{q.id}: {q.description}" if q.description else q.id,
        "poster": q.poster,
        "status": f"{_status(q.status)}; {where}" if where else _status(q.status),
        "inputs": f"{q.input_count} ({source}), hash {q.inputs_hash.hex()}",
        "classes": f"{q.label_count} (0 .. {q.label_count - 1})",
    }
    if q.fast:
        rows["kind"] = "fast: answered by the validators' ensemble in vote extensions"
        rows["schedule"] = labels_within
    else:
        rows["kind"] = f"open, {q.rounds} rounds after round 0"
        rows["schedule"] = (
            f"from height {s.start_height}; blocks per round: commit {s.commit_blocks}, "
            f"reveal {s.reveal_blocks}; {labels_within}"
        )
        most = q.max_participants or "unlimited"
        rows["participants"] = (
            f"peer sample {q.peer_sample}, min stake {format_coin(q.min_stake)}, max {most}"
        )
    rows |= {
        "reward": format_coin(q.reward),
        "labels commitment": q.labels_commitment.hex() or "(none)",
        "heights": f"posted {q.posted_height}, settled {q.settled_height or '-'}",
    }
    return format_fields(rows)


@consensus_query.command("show")
@click.argument("query_id", type=click.IntRange(1))
@query_options
def show(opts: QueryOpts, query_id: int) -> None:
    """Show a prediction query, its phase and round, and the blocks left in the phase."""
    with open_querier(opts) as querier:
        resp = ConsensusClient(querier).query(query_id)
        height, heights = querier.last_height, verified_heights(opts, querier)
    q = resp.query
    where = _where(resp.phase, resp.round, q.rounds, resp.phase_end_height, height)
    data = {
        "query": {**to_hex_dict(q), "status": _status(q.status)},
        "phase": resp.phase,
        "round": resp.round,
        "phase_end_height": resp.phase_end_height,
        "height": height,
    }
    emit_answer(opts, data, _show_text(q, where), heights)


def _answer_rows(s: consensus_pb2.Settlement) -> list[tuple[object, ...]]:
    """One row per input: answer, support and (once revealed) the true label."""
    rows: list[tuple[object, ...]] = []
    for index, t in enumerate(s.tallies):
        row: tuple[object, ...] = (index, t.answer, format_bps(t.support_bps))
        if s.labels_revealed:
            label = s.labels[index] if index < len(s.labels) else "-"
            row += (label, "yes" if label == t.answer else "no")
        rows.append(row)
    return rows


@consensus_query.command("answer")
@click.argument("query_id", type=click.IntRange(1))
@query_options
def answer(opts: QueryOpts, query_id: int) -> None:
    """Show a settled query's answer per input, the support behind it and, once revealed, the labels."""
    with open_querier(opts) as querier:
        s = ConsensusClient(querier).answer(query_id)
        heights = verified_heights(opts, querier)
    data = to_hex_dict(s)
    data["answers"] = [
        {"input": i, "answer": t.answer, "support_bps": t.support_bps} for i, t in enumerate(s.tallies)
    ]
    if s.labels_revealed:
        data["labels"] = list(s.labels)
    accuracy = (
        f", accuracy {format_bps(s.accuracy_bps)} against the revealed labels" if s.labels_revealed else ""
    )
    head = (
        f"query {query_id}: settled at height {s.height} on round {s.round}'s reveals, "
        f"{len(s.voters)} voters{accuracy}"
    )
    headers = ("INPUT", "ANSWER", "SUPPORT", *(("LABEL", "CORRECT") if s.labels_revealed else ()))
    emit_answer(opts, data, f"{head}\n{format_table(headers, _answer_rows(s), '(no inputs)')}", heights)


@consensus_query.command("participants")
@click.argument("query_id", type=click.IntRange(1))
@query_options
def participants(opts: QueryOpts, query_id: int) -> None:
    """List a query's participants: stake, reputation weight, missed reveals, slashes and rewards."""
    with open_querier(opts) as querier:
        found = ConsensusClient(querier).participants(query_id)
        heights = verified_heights(opts, querier)
    denom = {p.address: p.stake.denom for p in found}
    rows = [
        (
            p.address,
            format_coin(p.stake),
            format_bps(p.reputation_bps),
            p.missed_reveals,
            f"{p.slashed or 0}{denom[p.address]}",
            f"{p.reward or 0}{denom[p.address]}",
            p.correct,
        )
        for p in found
    ]
    headers = ("PARTICIPANT", "STAKE", "REPUTATION", "MISSED", "SLASHED", "REWARD", "CORRECT")
    text = format_table(
        headers, rows, f"(no participants: register with `synod tx consensus register --from KEY {query_id}`)"
    )
    emit_answer(opts, {"participants": [to_hex_dict(p) for p in found]}, text, heights)


@consensus_query.command("round")
@click.argument("query_id", type=click.IntRange(1))
@click.argument("round_", metavar="ROUND", type=click.IntRange(0))
@query_options
def round_state(opts: QueryOpts, query_id: int, round_: int) -> None:
    """Show a round: who revealed, the network's tally per input after it, and the next peer seed."""
    with open_querier(opts) as querier:
        resp = ConsensusClient(querier).round(query_id, round_)
        heights = verified_heights(opts, querier)
    st = resp.state
    head = format_fields(
        {
            "round": f"{round_} of query {query_id}"
            + (f", closed at height {st.height}" if st.height else ""),
            "revealed": f"{len(resp.reveals)} predictions"
            + (f" ({', '.join(st.revealed)})" if st.revealed else ""),
            "peer seed": st.seed.hex() or "(empty: no beacon output on chain yet)",
        }
    )
    tallies = [(i, t.answer, format_bps(t.support_bps)) for i, t in enumerate(st.tallies)]
    tally_table = format_table(
        ("INPUT", "LEADING", "SUPPORT"), tallies, "(no tally yet: the round's reveal phase is open)"
    )
    data = {"state": to_hex_dict(st), "reveals": [to_hex_dict(c) for c in resp.reveals]}
    emit_answer(opts, data, f"{head}\n\n{tally_table}", heights)


@consensus_query.command("models")
@query_options
def models(opts: QueryOpts) -> None:
    """List the validators whose models answer fast queries."""
    with open_querier(opts) as querier:
        found = ConsensusClient(querier).models()
        heights = verified_heights(opts, querier)
    rows = [(m.operator, m.model, m.since_height) for m in found]
    empty = "(no models: validators enrol with `synod tx consensus register-model --model DESC`)"
    emit_answer(
        opts,
        {"models": [to_hex_dict(m) for m in found]},
        format_table(("OPERATOR", "MODEL", "SINCE"), rows, empty),
        heights,
    )


@consensus_query.command("pending")
@query_options
def pending(opts: QueryOpts) -> None:
    """List the fast queries waiting for the validators' answers."""
    with open_querier(opts) as querier:
        found = ConsensusClient(querier).pending()
        heights = verified_heights(opts, querier)
    rows = [
        (q.id, q.poster, q.input_count, q.label_count, format_coin(q.reward), q.posted_height) for q in found
    ]
    headers = ("ID", "POSTER", "INPUTS", "CLASSES", "REWARD", "POSTED")
    emit_answer(
        opts,
        {"queries": [to_hex_dict(q) for q in found]},
        format_table(headers, rows, "(no pending fast queries)"),
        heights,
    )


@consensus_query.command("reputation")
@click.argument("address")
@query_options
def reputation(opts: QueryOpts, address: str) -> None:
    """Show an address's consensus reputation (the initial one when it has no record)."""
    show_reputation(opts, address, lambda querier, a: ConsensusClient(querier).reputation(a))
