"""`synod query committee ...`, `synod query task scores` and `synod query reputation`: committees,
their members and sizing, the judged rounds and reputations."""

from __future__ import annotations

import click

from app.client.committee import CommitteeClient
from cli.common import format_fields, format_table
from cli.query.common import (
    QueryOpts,
    emit_answer,
    format_bps,
    open_querier,
    query_options,
    show_reputation,
    to_hex_dict,
    verified_heights,
)
from synod.committee.v1 import committee_pb2

__all__ = ["committee_query", "format_probability", "reputation", "task_scores"]


def format_probability(ppb: int) -> str:
    """A probability in parts per billion as a percentage and in scientific notation."""
    return f"{ppb / 10**7:.4g}% ({ppb / 10**9:.2e})"


def _verdict(verdict: int) -> str:
    """VERDICT_FAILED_SCORE -> failed-score."""
    return committee_pb2.Verdict.Name(verdict).removeprefix("VERDICT_").lower().replace("_", "-")


@click.group("committee")
def committee_query() -> None:
    """Committees: sizing, members, a round's seats and attestations, the beacon seed."""


@committee_query.command("params")
@query_options
def params(opts: QueryOpts) -> None:
    """Show the parameters, the committee size they ask for, and the capture probability at that size."""
    with open_querier(opts) as querier:
        resp = CommitteeClient(querier).params()
        heights = verified_heights(opts, querier)
    p = resp.params
    data = {
        **to_hex_dict(p),
        "committee_size": resp.committee_size,
        "capture_probability_ppb": resp.capture_probability_ppb,
        "eligible_members": resp.eligible_members,
        "capture_probability_eligible_ppb": resp.capture_probability_eligible_ppb,
        "target_met": resp.target_met,
    }
    seats = min(resp.committee_size, resp.eligible_members)
    met = "yes" if resp.target_met else "no: more members must opt in, or the parameters must change"
    text = format_fields(
        {
            "adversarial stake": format_bps(p.adversarial_stake_bps),
            "capture target": format_probability(p.capture_target_ppb),
            "committee size": f"{resp.committee_size} (max {p.max_committee_size})",
            "capture probability": format_probability(resp.capture_probability_ppb),
            "eligible members": resp.eligible_members,
            f"capture at {seats} seats": format_probability(resp.capture_probability_eligible_ppb),
            "target met": met,
            "max score drop": format_bps(p.max_score_drop_bps),
            "attest tolerance": format_bps(p.attest_tolerance_bps),
            "member slashing": f"{format_bps(p.member_slash_bps)} of stake per {p.max_member_faults} faults",
            "reputation": f"starts at {format_bps(p.initial_reputation_bps)}, window {p.reputation_window}",
            "committee reward": f"{format_bps(p.committee_reward_bps)} of a committee task's reward",
        }
    )
    emit_answer(opts, data, text, heights)


@committee_query.command("members")
@query_options
def members(opts: QueryOpts) -> None:
    """List the validators on committee duty."""
    with open_querier(opts) as querier:
        found = CommitteeClient(querier).members()
        heights = verified_heights(opts, querier)
    rows = [
        (
            m.operator,
            m.cons_address.hex().upper(),
            m.bls_pubkey.hex()[:16],
            m.since_height,
            m.faults,
            m.slashes,
        )
        for m in found
    ]
    headers = ("OPERATOR", "CONSENSUS ADDRESS", "BLS KEY", "SINCE", "FAULTS", "SLASHES")
    text = format_table(headers, rows, "(no members: validators join with `synod tx committee opt-in`)")
    emit_answer(opts, {"members": [to_hex_dict(m) for m in found]}, text, heights)


def _show_text(
    c: committee_pb2.Committee,
    attestations: list[committee_pb2.Attestation],
    commitments: list[committee_pb2.AttestationCommitment],
) -> str:
    """The human form of `query committee show`."""
    attested = {a.attester: a for a in attestations}
    committed = {m.attester for m in commitments}
    head = format_fields(
        {
            "committee": f"task {c.task_id} round {c.round}, sampled at height {c.height}",
            "seats": f"{len(c.seats)} of target {c.target_size}",
            "seed": f"{c.seed.seed.hex()} (beacon of height {c.seed.vote_height}, {c.seed.shares} shares)",
        }
    )
    seats = [
        (
            s.operator,
            s.power,
            "yes" if s.operator in committed else "no",
            "yes" if s.operator in attested else "no",
            _baseline(attested.get(s.operator)),
        )
        for s in c.seats
    ]
    headers = ("SEAT", "POWER", "COMMITTED", "REVEALED", "BASELINE")
    seat_table = format_table(headers, seats, "(no seats)")
    workers = [(w, *(_score(a.scores[i]) for a in attestations)) for i, w in enumerate(c.workers)]
    headers = ("WORKER", *(f"BY {a.attester[:14]}..." for a in attestations))
    worker_table = format_table(headers, workers, "(no revealed updates)")
    return f"{head}\n\n{seat_table}\n\nscores revealed so far:\n{worker_table}"


def _baseline(a: committee_pb2.Attestation | None) -> str:
    """An attestation's baseline score, or '-'."""
    return "-" if a is None else format_bps(a.baseline_bps)


def _score(s: committee_pb2.UpdateScore) -> str:
    """One attested score, flagged when the spot check failed."""
    return format_bps(s.score_bps) + (" spot-check-failed" if s.spot_check_failed else "")


@committee_query.command("show")
@click.argument("task_id", type=click.IntRange(1))
@click.argument("round_", metavar="ROUND", type=click.IntRange(1))
@query_options
def show(opts: QueryOpts, task_id: int, round_: int) -> None:
    """Show the committee of TASK_ID's round ROUND: seats, workers to score, commitments (hashes) and
    the attestations revealed so far."""
    with open_querier(opts) as querier:
        resp = CommitteeClient(querier).committee(task_id, round_)
        heights = verified_heights(opts, querier)
    attestations, commitments = list(resp.attestations), list(resp.commitments)
    data = {
        "committee": {**to_hex_dict(resp.committee), "seed": to_hex_dict(resp.committee.seed)},
        "commitments": [to_hex_dict(m) for m in commitments],
        "attestations": [to_hex_dict(a) for a in attestations],
    }
    emit_answer(opts, data, _show_text(resp.committee, attestations, commitments), heights)


@committee_query.command("seed")
@query_options
def seed(opts: QueryOpts) -> None:
    """Show the randomness beacon's latest output, which the next committees are sampled from."""
    with open_querier(opts) as querier:
        s = CommitteeClient(querier).seed()
        heights = verified_heights(opts, querier)
    data = to_hex_dict(s)
    text = format_fields(
        {
            "seed": s.seed.hex(),
            "height": f"{s.height} (the block that carried the shares)",
            "vote height": f"{s.vote_height} (the height the shares sign)",
            "shares": s.shares,
        }
    )
    emit_answer(opts, data, text, heights)


@committee_query.command("dkg")
@query_options
def dkg(opts: QueryOpts) -> None:
    """Show the beacon's DKG in progress and its threshold groups (key, threshold, members)."""
    with open_querier(opts) as querier:
        resp = CommitteeClient(querier).dkg()
        heights = verified_heights(opts, querier)
    data = {
        "dkg": to_hex_dict(resp.dkg) if resp.HasField("dkg") else None,
        "group": to_hex_dict(resp.group) if resp.HasField("group") else None,
        "previous_group": to_hex_dict(resp.previous_group) if resp.HasField("previous_group") else None,
    }
    lines: dict[str, object] = {}
    if resp.HasField("dkg"):
        d = resp.dkg
        lines["dkg"] = f"{d.id}: {len(d.members)} members, t = {d.threshold}, deals from {d.start_height}"
    else:
        lines["dkg"] = "none in progress"
    if resp.HasField("group"):
        g = resp.group
        lines["group"] = (
            f"{g.id}: {len(g.members)} members, t = {g.threshold}, qualified {list(g.qualified)}, "
            f"serving from height {g.activation_height}"
        )
        lines["group key"] = g.public_key.hex()
    else:
        lines["group"] = "none yet (the bootstrap beacon gives the seeds)"
    emit_answer(opts, data, format_fields(lines), heights)


@committee_query.command("epoch-seed")
@click.argument("epoch", type=click.IntRange(0))
@query_options
def epoch_seed(opts: QueryOpts, epoch: int) -> None:
    """Show one epoch's group seed and the threshold signature it hashes."""
    with open_querier(opts) as querier:
        s = CommitteeClient(querier).epoch_seed(epoch)
        heights = verified_heights(opts, querier)
    text = format_fields(
        {
            "epoch": s.epoch,
            "seed": s.seed.hex(),
            "group": s.group_id,
            "height": f"{s.height} (the block that carried the group signature)",
            "signature": s.signature.hex(),
        }
    )
    emit_answer(opts, to_hex_dict(s), text, heights)


@click.command("scores")
@click.argument("task_id", type=click.IntRange(1))
@click.argument("round_", metavar="ROUND", type=click.IntRange(1))
@query_options
def task_scores(opts: QueryOpts, task_id: int, round_: int) -> None:
    """Show how the committee judged TASK_ID's round ROUND: each update's verdict, each member's record."""
    with open_querier(opts) as querier:
        s = CommitteeClient(querier).scores(task_id, round_)
        heights = verified_heights(opts, querier)
    data = to_hex_dict(s)
    data["updates"] = [{**to_hex_dict(u), "verdict": _verdict(u.verdict)} for u in s.updates]
    data["members"] = [to_hex_dict(m) for m in s.members]
    updates = [
        (u.worker, _verdict(u.verdict), format_bps(u.median_bps), format_bps(u.reputation_bps))
        for u in s.updates
    ]
    members_ = [
        (
            m.operator,
            m.attested,
            m.faulty,
            format_bps(m.max_deviation_bps),
            format_bps(m.reputation_bps),
            m.slashed,
        )
        for m in s.members
    ]
    text = "\n\n".join(
        [
            f"task {task_id} round {round_}: judged at height {s.height}, "
            f"baseline {format_bps(s.baseline_bps)}",
            format_table(("WORKER", "VERDICT", "MEDIAN", "REPUTATION"), updates, "(no revealed updates)"),
            format_table(
                ("MEMBER", "ATTESTED", "FAULTY", "DEVIATION", "REPUTATION", "SLASHED"), members_, "(no seats)"
            ),
        ]
    )
    emit_answer(opts, data, text, heights)


@click.command("reputation")
@click.argument("address")
@query_options
def reputation(opts: QueryOpts, address: str) -> None:
    """Show the reputation of a worker or committee member (the initial one when it has no record)."""
    show_reputation(opts, address, lambda querier, a: CommitteeClient(querier).reputation(a))
