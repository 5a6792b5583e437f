"""committee message handlers: validate -> keeper -> events."""

from __future__ import annotations

from app.core import bls
from app.core.context import Context
from app.core.crypto import address_bytes_from_pubkey, encode_address
from app.core.msgs import MsgRoute, decode_address_field
from app.modules.committee import logic
from app.modules.committee.beacon import compute_possession_message
from app.modules.committee.errors import (
    ErrAlreadyAttested,
    ErrAlreadyCommitted,
    ErrAlreadyMember,
    ErrBadAttestation,
    ErrBadBlsKey,
    ErrBadDirection,
    ErrBadReveal,
    ErrNoCommitment,
    ErrNoCommittee,
    ErrNotMember,
    ErrNotOnCommittee,
    ErrNotValidator,
    ErrWrongPhase,
    ErrWrongWindow,
)
from app.modules.committee.expected import CommitteeStaking, CommitteeTasks
from app.modules.committee.keeper import CommitteeKeeper
from app.modules.committee.logic import BPS
from synod.committee.v1 import committee_pb2, tx_pb2

__all__ = [
    "routes",
    "validate_attest",
    "validate_commit_attestation",
    "validate_opt_in",
    "validate_opt_out",
]


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


def validate_commit_attestation(msg: tx_pb2.MsgCommitAttestation) -> None:
    """Stateless checks of MsgCommitAttestation: a 32-byte hash."""
    decode_address_field(msg.attester, "attester")
    if msg.task_id == 0 or msg.round == 0:
        raise ErrBadAttestation.wrap("task_id and round must be positive")
    if len(msg.commitment) != logic.COMMITMENT_LEN:
        raise ErrBadAttestation.wrap(
            f"commitment must be {logic.COMMITMENT_LEN} bytes (logic.compute_attestation_commitment)"
        )


def validate_attest(msg: tx_pb2.MsgAttest) -> None:
    """Stateless checks of MsgAttest (the reveal): scores are basis points, the salt 32 bytes."""
    decode_address_field(msg.attester, "attester")
    if msg.task_id == 0 or msg.round == 0:
        raise ErrBadAttestation.wrap("task_id and round must be positive")
    if msg.baseline_bps > BPS or any(s.score_bps > BPS for s in msg.scores):
        raise ErrBadAttestation.wrap(f"scores are basis points of accuracy, at most {BPS}")
    if len(msg.salt) != logic.SALT_LEN:
        raise ErrBadAttestation.wrap(f"salt must be the {logic.SALT_LEN} bytes the commitment was made with")
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


def _require_seat(
    k: CommitteeKeeper, tasks: CommitteeTasks, ctx: Context, attester: str, task_id: int, round_: int
) -> tuple[committee_pb2.Committee, int]:
    """The round's committee, seating attester, in its open score phase; and its reveal window's start."""
    committee = k.get_committee(ctx.store, task_id, round_)
    if committee is None:
        raise ErrNoCommittee.wrap(f"task {task_id} has no committee for round {round_}")
    phase = tasks.get_score_phase(ctx.store, task_id)
    if phase is None or phase[0] != round_:
        raise ErrWrongPhase.wrap(f"round {round_} of task {task_id} is not in its score phase")
    if all(seat.operator != attester for seat in committee.seats):
        raise ErrNotOnCommittee.wrap(f"{attester} holds no seat on this committee")
    _, start, end = phase
    return committee, logic.compute_reveal_start(start, end, k.get_params(ctx.store).attest_reveal_blocks)


def _commit_attestation(
    k: CommitteeKeeper, tasks: CommitteeTasks, ctx: Context, msg: tx_pb2.MsgCommitAttestation
) -> None:
    """A seated member commits to its scores in the score phase's commit window."""
    attester = decode_address_field(msg.attester, "attester")
    _, reveal_start = _require_seat(k, tasks, ctx, msg.attester, msg.task_id, msg.round)
    if k.get_attestation_commitment(ctx.store, msg.task_id, msg.round, attester) is not None:
        raise ErrAlreadyCommitted.wrap(f"{msg.attester} already committed round {msg.round}")
    if ctx.block.height >= reveal_start:
        raise ErrWrongWindow.wrap(
            f"round {msg.round}'s commit window ended at height {reveal_start - 1}; commitments come "
            "first, reveals (MsgAttest) in the last blocks of the score phase"
        )
    record = committee_pb2.AttestationCommitment(
        task_id=msg.task_id,
        round=msg.round,
        attester=msg.attester,
        commitment=msg.commitment,
        height=ctx.block.height,
    )
    k.set_attestation_commitment(ctx.store, attester, record)
    ctx.events.emit("attest_commit", task_id=msg.task_id, round=msg.round, attester=msg.attester)


def _attest(k: CommitteeKeeper, tasks: CommitteeTasks, ctx: Context, msg: tx_pb2.MsgAttest) -> None:
    """A seated member reveals the scores it committed to, in the score phase's reveal window.

    The window opens early once every seat has committed (counting at most max_committee_size
    entries): no commitment can then follow the plaintext.
    """
    attester = decode_address_field(msg.attester, "attester")
    committee, reveal_start = _require_seat(k, tasks, ctx, msg.attester, msg.task_id, msg.round)
    if k.get_attestation(ctx.store, msg.task_id, msg.round, attester) is not None:
        raise ErrAlreadyAttested.wrap(f"{msg.attester} already attested round {msg.round}")
    _check_scores(committee, msg)
    committed = k.get_attestation_commitment(ctx.store, msg.task_id, msg.round, attester)
    if committed is None:
        raise ErrNoCommitment.wrap(
            f"{msg.attester} made no commitment in round {msg.round}'s commit window "
            "(MsgCommitAttestation), so it has nothing to reveal"
        )
    seats = len(committee.seats)
    if ctx.block.height < reveal_start and (
        k.count_attestation_commitments(ctx.store, msg.task_id, msg.round) < seats
    ):
        raise ErrWrongWindow.wrap(
            f"round {msg.round}'s reveal window opens at height {reveal_start} (or once every seat has "
            "committed); reveal then"
        )
    opened = logic.compute_attestation_commitment(
        attester, msg.task_id, msg.round, msg.salt, msg.baseline_bps, msg.scores
    )
    if opened != committed.commitment:
        raise ErrBadReveal.wrap(
            f"these scores and salt do not hash to {msg.attester}'s commitment of round {msg.round}"
        )
    att = committee_pb2.Attestation(
        task_id=msg.task_id,
        round=msg.round,
        attester=msg.attester,
        baseline_bps=msg.baseline_bps,
        scores=msg.scores,
        height=ctx.block.height,
        salt=msg.salt,
    )
    k.set_attestation(ctx.store, attester, att)
    ctx.events.emit("attest", task_id=msg.task_id, round=msg.round, attester=encode_address(attester))
    # Every seat has revealed (at most max_committee_size of them to count): the score phase is done.
    attested = sum(1 for _ in k.iterate_attestations(ctx.store, msg.task_id, msg.round))
    if attested == seats:
        tasks.close_phase_now(ctx.store, msg.task_id, ctx.block.height)


def routes(k: CommitteeKeeper, staking: CommitteeStaking, tasks: CommitteeTasks) -> list[MsgRoute]:
    """The committee module's message routes."""
    return [
        MsgRoute(
            tx_pb2.MsgOptIn, lambda m: m.operator, validate_opt_in, lambda c, m: _opt_in(k, staking, c, m)
        ),
        MsgRoute(tx_pb2.MsgOptOut, lambda m: m.operator, validate_opt_out, lambda c, m: _opt_out(k, c, m)),
        MsgRoute(
            tx_pb2.MsgCommitAttestation,
            lambda m: m.attester,
            validate_commit_attestation,
            lambda c, m: _commit_attestation(k, tasks, c, m),
        ),
        MsgRoute(
            tx_pb2.MsgAttest, lambda m: m.attester, validate_attest, lambda c, m: _attest(k, tasks, c, m)
        ),
    ]
