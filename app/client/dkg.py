"""A member's side of the DKG (off-chain): deal, check what it was dealt, and sum its group share.

The dealer's polynomial and its ephemeral sealing scalars are derived from its BLS secret and the
DKG (threshold.compute_coefficients), so a node that restarts deals the same bytes again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from app.core import threshold
from synod.committee.v1 import committee_pb2, tx_pb2

__all__ = [
    "compute_group_share",
    "get_member_index",
    "msg_complain",
    "msg_deal",
    "msg_justify",
    "open_dealing",
]

_EPHEMERAL_DOMAIN = b"synod/dkg/ephemeral/v1"


def get_member_index(dkg: committee_pb2.Dkg | committee_pb2.Group, operator: str) -> int | None:
    """The 1-based index of operator in a DKG or group, or None."""
    for i, m in enumerate(dkg.members):
        if m.operator == operator:
            return i + 1
    return None


def _context(chain_id: str, dkg_id: int) -> bytes:
    """What makes one dealer's polynomial differ between DKGs and chains."""
    return chain_id.encode() + b"\x00" + dkg_id.to_bytes(8, "big")


def compute_polynomial(bls_secret: bytes, chain_id: str, dkg: committee_pb2.Dkg) -> list[int]:
    """The dealer's coefficients for this DKG (a_0 is its contribution to the group secret)."""
    return threshold.compute_coefficients(bls_secret, _context(chain_id, dkg.id), dkg.threshold)


def msg_deal(dealer: str, bls_secret: bytes, chain_id: str, dkg: committee_pb2.Dkg) -> tx_pb2.MsgDeal:
    """The dealer's MsgDeal: commitments, and f(j) sealed to member j's BLS key for every member."""
    coefficients = compute_polynomial(bls_secret, chain_id, dkg)
    sealed = []
    for j, member in enumerate(dkg.members, start=1):
        digest = hashlib.sha512(
            _EPHEMERAL_DOMAIN + bls_secret + _context(chain_id, dkg.id) + j.to_bytes(4, "big")
        ).digest()
        ephemeral = int.from_bytes(digest, "big") % threshold.CURVE_ORDER or 1
        share = threshold.compute_share(coefficients, j)
        sealed.append(threshold.compute_sealed_share(member.bls_pubkey, share, ephemeral))
    return tx_pb2.MsgDeal(
        dealer=dealer,
        dkg_id=dkg.id,
        commitments=threshold.compute_commitments(coefficients),
        encrypted_shares=sealed,
    )


def open_dealing(bls_secret: bytes, index: int, dealing: committee_pb2.Dealing) -> int | None:
    """The share a dealing gives member index, or None if it does not open or does not match the
    dealer's commitments (then the member complains)."""
    if not 1 <= index <= len(dealing.encrypted_shares):
        return None
    share = threshold.compute_opened_share(bls_secret, dealing.encrypted_shares[index - 1])
    if share is None or not threshold.is_valid_dealt_share(list(dealing.commitments), index, share):
        return None
    return share


def msg_complain(complainer: str, dkg_id: int, dealer: int) -> tx_pb2.MsgComplain:
    """A complaint that dealer's share to complainer is bad."""
    return tx_pb2.MsgComplain(complainer=complainer, dkg_id=dkg_id, dealer=dealer)


def msg_justify(
    dealer: str, bls_secret: bytes, chain_id: str, dkg: committee_pb2.Dkg, complainer: int
) -> tx_pb2.MsgJustify:
    """The dealer's answer to a complaint: the complainer's share in clear."""
    share = threshold.compute_share(compute_polynomial(bls_secret, chain_id, dkg), complainer)
    return tx_pb2.MsgJustify(
        dealer=dealer, dkg_id=dkg.id, complainer=complainer, share=share.to_bytes(32, "big")
    )


def compute_group_share(
    group: committee_pb2.Group,
    received: Mapping[int, int],
    complaints: Iterable[committee_pb2.Complaint],
    index: int,
) -> int | None:
    """Member index's share of the group secret: the sum of what each qualified dealer gave it
    (the justified share in clear where it complained). None if one is missing."""
    revealed = {
        c.dealer: int.from_bytes(c.share, "big") for c in complaints if c.complainer == index and c.justified
    }
    total = 0
    for dealer in group.qualified:
        share = revealed.get(dealer, received.get(dealer))
        if share is None:
            return None
        total = (total + share) % threshold.CURVE_ORDER
    return total
