"""The threshold beacon's epochs: which group signs which message, and the seed it gives.

Epoch e holds heights [e * E, (e + 1) * E), E = epoch_blocks. Its message
m_e = domain || chain id || group id || e is fixed in advance; the group that signs it is the one
serving when the epoch starts (the latest group whose activation height is at or before e * E, the
previous one where the latest activated later). Members sign m_e in the vote extensions of the
epoch's heights until its seed is on chain; any t + 1 shares combine into the one group signature,
and seed_e = SHA-256(domain || signature). A proposer can delay the seed (leave it out), never
change it.
"""

from __future__ import annotations

import hashlib

from app.core.codec import u64be
from app.modules.committee.keeper import CommitteeKeeper
from app.state.kv import KVReader
from synod.committee.v1 import committee_pb2

__all__ = [
    "PendingEpoch",
    "compute_epoch",
    "compute_epoch_message",
    "compute_group_seed",
    "compute_seed_epoch",
    "get_pending_epoch",
    "get_serving_group",
]

EPOCH_DOMAIN = b"synod/beacon/epoch/v1"
GROUP_SEED_DOMAIN = b"synod/beacon/group-seed/v1"


def compute_epoch(height: int, epoch_blocks: int) -> int:
    """The epoch a height falls in."""
    return height // epoch_blocks


def compute_seed_epoch(height: int, epoch_blocks: int) -> int:
    """The first epoch that starts after height: its seed cannot be known at height."""
    return height // epoch_blocks + 1


def compute_epoch_message(chain_id: str, group_id: int, epoch: int) -> bytes:
    """m_e: what the group's members sign for epoch e."""
    chain = chain_id.encode()
    return EPOCH_DOMAIN + len(chain).to_bytes(2, "big") + chain + u64be(group_id) + u64be(epoch)


def compute_group_seed(signature: bytes) -> bytes:
    """seed_e = SHA-256(domain || group signature): unique because the signature is."""
    return hashlib.sha256(GROUP_SEED_DOMAIN + signature).digest()


def get_serving_group(
    store: KVReader, k: CommitteeKeeper, epoch: int, epoch_blocks: int
) -> committee_pb2.Group | None:
    """The group that signs epoch's seed, or None (no group yet: the old beacon's bootstrap)."""
    start = epoch * epoch_blocks
    for previous in (False, True):
        group = k.get_group(store, previous=previous)
        if group is not None and group.activation_height <= start:
            return group
    return None


class PendingEpoch:
    """The epoch whose seed members sign at a vote height, its group and message."""

    def __init__(self, epoch: int, group: committee_pb2.Group, message: bytes) -> None:
        self.epoch = epoch
        self.group = group
        self.message = message

    def get_index(self, cons_address: bytes) -> int | None:
        """A validator's 1-based index in the group, or None."""
        for i, m in enumerate(self.group.members):
            if m.cons_address == cons_address:
                return i + 1
        return None


def get_pending_epoch(
    store: KVReader, k: CommitteeKeeper, chain_id: str, vote_height: int
) -> tuple[committee_pb2.Group | None, PendingEpoch | None]:
    """The group serving vote_height's epoch, and that epoch if its seed is not on chain yet.

    Only the current epoch is signed: one whose seed never landed (fewer than t + 1 shares) stays
    without a seed, and the committees that waited for it fall back as with no seed.
    """
    epoch_blocks = k.get_params(store).epoch_blocks
    epoch = compute_epoch(vote_height, epoch_blocks)
    group = get_serving_group(store, k, epoch, epoch_blocks)
    if group is None or k.get_epoch_seed(store, epoch) is not None:
        return group, None
    return group, PendingEpoch(epoch, group, compute_epoch_message(chain_id, group.id, epoch))
