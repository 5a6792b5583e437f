"""committee message handlers: validate -> keeper -> events."""

from __future__ import annotations

from app.core import bls
from app.core.context import Context
from app.core.crypto import address_bytes_from_pubkey, encode_address
from app.core.msgs import MsgRoute, decode_address_field
from app.modules.committee.beacon import compute_possession_message
from app.modules.committee.errors import (
    ErrAlreadyAttested,
    ErrAlreadyMember,
    ErrBadAttestation,
    ErrBadBlsKey,
    ErrBadDirection,
    ErrNoCommittee,
    ErrNotMember,
    ErrNotOnCommittee,
    ErrNotValidator,
    ErrWrongPhase,
)
from app.modules.committee.expected import CommitteeStaking, CommitteeTasks
from app.modules.committee.keeper import CommitteeKeeper
from app.modules.committee.logic import BPS
from synod.committee.v1 import committee_pb2, tx_pb2

__all__ = ["routes", "validate_attest", "validate_opt_in", "validate_opt_out"]

SCORE_PHASE = "score"


def validate_opt_in(msg: tx_pb2.MsgOptIn) -> None:
    """Stateless checks of MsgOptIn (the possession proof needs the chain id: see _opt_in)."""
    decode_address_field(msg.operator, "operator")
    if len(msg.bls_pubkey) != bls.PUBKEY_LEN or len(msg.possession) != bls.SIGNATURE_LEN:
        raise ErrBadBlsKey.wrap(
            f"bls_pubkey must be {bls.PUBKEY_LEN} bytes and possession {bls.SIGNATURE_LEN} bytes; "
            "build them with `synod tx committee opt-in --bls-key <node home>/config/bls_key.json`"
        )


def validate_opt_out(msg: tx_pb2.MsgOptOut) -> None:
    """Stateless checks of MsgOptOut."""
    decode_address_field(msg.operator, "operator")


def validate_attest(msg: tx_pb2.MsgAttest) -> None:
    """Stateless checks of MsgAttest: scores are basis points."""
    decode_address_field(msg.attester, "attester")
    if msg.task_id == 0 or msg.round == 0:
        raise ErrBadAttestation.wrap("task_id and round must be positive")
    if msg.baseline_bps > BPS or any(s.score_bps > BPS for s in msg.scores):
        raise ErrBadAttestation.wrap(f"scores are basis points of accuracy, at most {BPS}")
    if any(not -BPS <= s.direction_bps <= BPS for s in msg.scores):
        raise ErrBadDirection.wrap(f"direction_bps is a cosine in basis points, within +-{BPS}")


def _opt_in(k: CommitteeKeeper, staking: CommitteeStaking, ctx: Context, msg: tx_pb2.MsgOptIn) -> None:
    """A validator takes committee duty and registers its beacon key."""
    operator = decode_address_field(msg.operator, "operator")
    validator = staking.get_validator(ctx.store, operator)
    if validator is None:
        raise ErrNotValidator.wrap(
            f"{msg.operator} is not a validator; create one with `synod tx staking ...`"
        )
    if k.get_member(ctx.store, operator) is not None:
        raise ErrAlreadyMember.wrap(f"{msg.operator} is already on committee duty")
    message = compute_possession_message(ctx.block.chain_id, msg.operator)
    if not bls.is_valid_signature(msg.bls_pubkey, message, msg.possession):
        raise ErrBadBlsKey.wrap("the possession signature does not verify under bls_pubkey for this chain")
    member = committee_pb2.Member(
        operator=msg.operator,
        cons_address=address_bytes_from_pubkey(validator.consensus_pubkey),
        bls_pubkey=msg.bls_pubkey,
        since_height=ctx.block.height,
    )
    k.set_member(ctx.store, operator, member)
    ctx.events.emit("committee_opt_in", operator=msg.operator, height=ctx.block.height)


def _opt_out(k: CommitteeKeeper, ctx: Context, msg: tx_pb2.MsgOptOut) -> None:
    """A member leaves committee duty (seats already drawn still expect its attestation)."""
    operator = decode_address_field(msg.operator, "operator")
    if k.get_member(ctx.store, operator) is None:
        raise ErrNotMember.wrap(f"{msg.operator} is not on committee duty")
    k.remove_member(ctx.store, operator)
    ctx.events.emit("committee_opt_out", operator=msg.operator)


def _check_scores(committee: committee_pb2.Committee, msg: tx_pb2.MsgAttest) -> None:
    """One score per committee worker, in the committee's order."""
    got = [s.worker for s in msg.scores]
    if got != list(committee.workers):
        raise ErrBadAttestation.wrap(
            f"scores must name the committee's {len(committee.workers)} workers in its order "
            f"(see `synod query committee show {msg.task_id} {msg.round}`)"
        )


def _attest(k: CommitteeKeeper, tasks: CommitteeTasks, ctx: Context, msg: tx_pb2.MsgAttest) -> None:
    """A seated member records its scores for a round during the round's score phase."""
    attester = decode_address_field(msg.attester, "attester")
    committee = k.get_committee(ctx.store, msg.task_id, msg.round)
    if committee is None:
        raise ErrNoCommittee.wrap(f"task {msg.task_id} has no committee for round {msg.round}")
    if tasks.get_phase(ctx.store, msg.task_id) != (SCORE_PHASE, msg.round):
        raise ErrWrongPhase.wrap(f"round {msg.round} of task {msg.task_id} is not in its score phase")
    if all(seat.operator != msg.attester for seat in committee.seats):
        raise ErrNotOnCommittee.wrap(f"{msg.attester} holds no seat on this committee")
    if k.get_attestation(ctx.store, msg.task_id, msg.round, attester) is not None:
        raise ErrAlreadyAttested.wrap(f"{msg.attester} already attested round {msg.round}")
    _check_scores(committee, msg)
    att = committee_pb2.Attestation(
        task_id=msg.task_id,
        round=msg.round,
        attester=msg.attester,
        baseline_bps=msg.baseline_bps,
        scores=msg.scores,
        height=ctx.block.height,
    )
    k.set_attestation(ctx.store, attester, att)
    ctx.events.emit("attest", task_id=msg.task_id, round=msg.round, attester=encode_address(attester))
    # Every seat has attested (at most max_committee_size of them to count): the score phase is done.
    attested = sum(1 for _ in k.iterate_attestations(ctx.store, msg.task_id, msg.round))
    if attested == len(committee.seats):
        tasks.close_phase_now(ctx.store, msg.task_id, ctx.block.height)


def routes(k: CommitteeKeeper, staking: CommitteeStaking, tasks: CommitteeTasks) -> list[MsgRoute]:
    """The committee module's message routes."""
    return [
        MsgRoute(
            tx_pb2.MsgOptIn, lambda m: m.operator, validate_opt_in, lambda c, m: _opt_in(k, staking, c, m)
        ),
        MsgRoute(tx_pb2.MsgOptOut, lambda m: m.operator, validate_opt_out, lambda c, m: _opt_out(k, c, m)),
        MsgRoute(
            tx_pb2.MsgAttest, lambda m: m.attester, validate_attest, lambda c, m: _attest(k, tasks, c, m)
        ),
    ]
