"""Build committee-module messages (off-chain: CLI, committee member agent, tests).

A validator's operator key opts in once with its node's BLS key (MsgOptIn, with a proof of
possession), and from then on attests each round it holds a seat in: it commits to its scores of the
committee's workers, in the committee's order, in the score phase's commit window
(MsgCommitAttestation), and reveals them with their salt in its reveal window (MsgAttest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app.core.crypto import decode_address
from app.modules.committee.logic import compute_attestation_commitment
from synod.committee.v1 import committee_pb2, tx_pb2

__all__ = ["msg_attest", "msg_commit_attestation", "msg_opt_in", "msg_opt_out"]


def msg_opt_in(operator: str, bls_pubkey: bytes, possession: bytes) -> tx_pb2.MsgOptIn:
    """Go on committee duty with a BLS key and its possession signature over
    compute_possession_message(chain id, operator)."""
    return tx_pb2.MsgOptIn(operator=operator, bls_pubkey=bls_pubkey, possession=possession)


def msg_opt_out(operator: str) -> tx_pb2.MsgOptOut:
    """End committee duty from the next block on."""
    return tx_pb2.MsgOptOut(operator=operator)


def msg_attest(
    attester: str,
    task_id: int,
    round_: int,
    baseline_bps: int,
    workers: Sequence[str],
    scores: Mapping[str, int],
    spot_check_failed: Mapping[str, bool] | None,
    salt: bytes,
    directions: Mapping[str, tuple[int, int]] | None = None,
) -> tx_pb2.MsgAttest:
    """One member's scores for a (task, round), revealed with the salt they were committed with: one
    UpdateScore per committee worker, in `workers`' order.

    `workers` is the committee's worker list as the chain stored it; the chain rejects any other order
    or set, so a worker missing from `scores` is a bug in the caller (KeyError). `directions` holds
    (direction_bps, norm_bps) per worker when the committee runs the direction test.
    """
    failed, moves = spot_check_failed or {}, directions or {}
    return tx_pb2.MsgAttest(
        attester=attester,
        task_id=task_id,
        round=round_,
        baseline_bps=baseline_bps,
        scores=[
            committee_pb2.UpdateScore(
                worker=w,
                score_bps=scores[w],
                spot_check_failed=failed.get(w, False),
                direction_bps=moves.get(w, (0, 0))[0],
                norm_bps=moves.get(w, (0, 0))[1],
            )
            for w in workers
        ],
        salt=salt,
    )


def msg_commit_attestation(reveal: tx_pb2.MsgAttest) -> tx_pb2.MsgCommitAttestation:
    """The commitment to a reveal (msg_attest): bound to its attester, task, round, salt and scores."""
    commitment = compute_attestation_commitment(
        decode_address(reveal.attester),
        reveal.task_id,
        reveal.round,
        reveal.salt,
        reveal.baseline_bps,
        reveal.scores,
    )
    return tx_pb2.MsgCommitAttestation(
        attester=reveal.attester, task_id=reveal.task_id, round=reveal.round, commitment=commitment
    )
