"""committee store keys: module prefix 0x06, then one-byte tables (big-endian integers)."""

from __future__ import annotations

from app.core.codec import u64be

__all__ = [
    "STORE_PREFIX",
    "PARAMS",
    "MEMBER",
    "MEMBER_BY_CONS",
    "SEED",
    "COMMITTEE",
    "ATTESTATION",
    "SCORES",
    "REPUTATION",
    "MEMBER_POINTS",
    "UPDATE_SEEN",
    "MEMBER_COUNT",
    "ATTESTATION_COMMITMENT",
    "NEAR_COPY_KEPT",
    "DKG",
    "DEALING",
    "COMPLAINT",
    "GROUP",
    "PREVIOUS_GROUP",
    "EPOCH_SEED",
    "DKG_NEXT_ID",
    "WAITING_COMMITTEE",
    "waiting_committee_key",
    "TABLES",
    "dealing_key",
    "complaint_key",
    "epoch_seed_key",
    "member_key",
    "member_by_cons_key",
    "committee_key",
    "attestation_key",
    "attestation_commitment_key",
    "scores_key",
    "reputation_key",
    "member_points_key",
    "update_seen_key",
    "near_copy_kept_key",
]

STORE_PREFIX = b"\x06"

PARAMS = b"\x00"  # -> committee.v1.Params
MEMBER = b"\x01"  # + operator(20) -> committee.v1.Member
MEMBER_BY_CONS = b"\x02"  # + consensus address(20) -> operator(20)
SEED = b"\x03"  # -> committee.v1.Seed (the latest beacon output only)
COMMITTEE = b"\x04"  # + task id(8) + round(4) -> committee.v1.Committee (kept)
ATTESTATION = b"\x05"  # + task id(8) + round(4) + operator(20) -> committee.v1.Attestation (until judged)
SCORES = b"\x06"  # + task id(8) + round(4) -> committee.v1.RoundScores (kept)
REPUTATION = b"\x07"  # + address(20) -> committee.v1.Reputation
MEMBER_POINTS = b"\x08"  # + task id(8) + operator(20) -> u64be: rounds attested within tolerance
UPDATE_SEEN = b"\x09"  # + task id(8) + update sha256(32) -> u32 round first seen (replay check)
# -> u64be: how many MEMBER entries exist. Kept beside the table so a query (and a light client)
# reads the eligible-member count from one proven entry instead of counting an unbounded table.
MEMBER_COUNT = b"\x0a"
# + task id(8) + round(4) + operator(20) -> committee.v1.AttestationCommitment (until judged)
ATTESTATION_COMMITMENT = b"\x0b"
# + task id(8) + worker(20) -> int16 update payload: the last judged round's accepted updates, which the
# next round's near-copy check compares against (replaced each round, at most max_workers per task).
NEAR_COPY_KEPT = b"\x0c"
# The threshold beacon (0x10-0x1f reserved): the DKG in progress, its dealings and complaints (both
# deleted when it ends), the current and previous groups, and one group seed per epoch (kept).
DKG = b"\x10"  # -> committee.v1.Dkg (while one is in progress)
DEALING = b"\x11"  # + dkg id(8) + dealer index(4) -> committee.v1.Dealing
COMPLAINT = b"\x12"  # + dkg id(8) + dealer index(4) + complainer index(4) -> committee.v1.Complaint
GROUP = b"\x13"  # -> committee.v1.Group (the latest completed group)
PREVIOUS_GROUP = b"\x14"  # -> committee.v1.Group (the one before it)
EPOCH_SEED = b"\x15"  # + epoch(8) -> committee.v1.Seed (a group seed)
DKG_NEXT_ID = b"\x16"  # -> u64be: the id the next DKG takes
# + epoch(8) + task id(8) + round(4) -> b"": a committee waiting for that epoch's group seed
WAITING_COMMITTEE = b"\x17"

TABLES = {
    "params": PARAMS,
    "member": MEMBER,
    "member_by_cons": MEMBER_BY_CONS,
    "seed": SEED,
    "committee": COMMITTEE,
    "attestation": ATTESTATION,
    "scores": SCORES,
    "reputation": REPUTATION,
    "member_points": MEMBER_POINTS,
    "update_seen": UPDATE_SEEN,
    "member_count": MEMBER_COUNT,
    "attestation_commitment": ATTESTATION_COMMITMENT,
    "near_copy_kept": NEAR_COPY_KEPT,
    "dkg": DKG,
    "dealing": DEALING,
    "complaint": COMPLAINT,
    "group": GROUP,
    "previous_group": PREVIOUS_GROUP,
    "epoch_seed": EPOCH_SEED,
    "dkg_next_id": DKG_NEXT_ID,
    "waiting_committee": WAITING_COMMITTEE,
}


def _round(task_id: int, round_: int) -> bytes:
    """Task id and round as 12 big-endian bytes."""
    return u64be(task_id) + round_.to_bytes(4, "big")


def member_key(operator: bytes = b"") -> bytes:
    """Key of one member, or (no operator) the prefix of all members."""
    return MEMBER + operator


def member_by_cons_key(cons_address: bytes) -> bytes:
    """Key of the consensus-address index entry of one member."""
    return MEMBER_BY_CONS + cons_address


def committee_key(task_id: int, round_: int) -> bytes:
    """Key of one (task, round) committee."""
    return COMMITTEE + _round(task_id, round_)


def attestation_key(task_id: int, round_: int, operator: bytes = b"") -> bytes:
    """Key of one attestation, or (no operator) the prefix of a round's attestations."""
    return ATTESTATION + _round(task_id, round_) + operator


def attestation_commitment_key(task_id: int, round_: int, operator: bytes = b"") -> bytes:
    """Key of one attestation commitment, or (no operator) the prefix of a round's commitments."""
    return ATTESTATION_COMMITMENT + _round(task_id, round_) + operator


def scores_key(task_id: int, round_: int) -> bytes:
    """Key of one (task, round) judgement."""
    return SCORES + _round(task_id, round_)


def reputation_key(address: bytes) -> bytes:
    """Key of one address's reputation."""
    return REPUTATION + address


def member_points_key(task_id: int, operator: bytes = b"") -> bytes:
    """Key of a member's points in a task, or (no operator) the prefix of a task's points."""
    return MEMBER_POINTS + u64be(task_id) + operator


def update_seen_key(task_id: int, update_hash: bytes) -> bytes:
    """Key recording that an update with this hash was revealed in a task."""
    return UPDATE_SEEN + u64be(task_id) + update_hash


def near_copy_kept_key(task_id: int, worker: bytes = b"") -> bytes:
    """Key of one kept update of a task, or (no worker) the prefix of the task's kept updates."""
    return NEAR_COPY_KEPT + u64be(task_id) + worker


def dealing_key(dkg_id: int, dealer: int | None = None) -> bytes:
    """Key of one dealing, or (no dealer) the prefix of a DKG's dealings."""
    return DEALING + u64be(dkg_id) + (b"" if dealer is None else dealer.to_bytes(4, "big"))


def complaint_key(dkg_id: int, dealer: int | None = None, complainer: int | None = None) -> bytes:
    """Key of one complaint, or the prefix of a dealer's (no complainer) or a DKG's (neither)."""
    key = COMPLAINT + u64be(dkg_id)
    if dealer is not None:
        key += dealer.to_bytes(4, "big")
        if complainer is not None:
            key += complainer.to_bytes(4, "big")
    return key


def epoch_seed_key(epoch: int) -> bytes:
    """Key of one epoch's group seed."""
    return EPOCH_SEED + u64be(epoch)


def waiting_committee_key(epoch: int, task_id: int | None = None, round_: int = 0) -> bytes:
    """Key of a committee waiting for an epoch's seed, or (no task) the prefix of that epoch's."""
    return WAITING_COMMITTEE + u64be(epoch) + (b"" if task_id is None else _round(task_id, round_))
