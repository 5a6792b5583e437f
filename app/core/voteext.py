"""The vote extension every validator sends (ExtendVote) and CometBFT's signature over it.

One extension carries two things: the committee beacon share (field 1) and the fast-path ensemble
answers (consensus/v1/ensemble.proto). Parsing is strict: a malformed, oversized or non-canonical
extension is None, so every node reads the same bytes the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.core.errors import SynodError
from app.core.tx import parse_canonical
from synod.consensus.v1 import ensemble_pb2
from tendermint.types import canonical_pb2

__all__ = [
    "MAX_VOTE_EXTENSION_BYTES",
    "compute_extension_sign_bytes",
    "encode_vote_extension",
    "parse_vote_extension",
]

# Beacon share (98 bytes) plus answers: 3 bytes per input, a few queries at a time.
MAX_VOTE_EXTENSION_BYTES = 64 * 1024


def encode_vote_extension(
    beacon_share: bytes = b"", answers: Sequence[ensemble_pb2.EnsembleAnswer] = ()
) -> bytes:
    """The canonical bytes of a vote extension (b"" when it carries nothing)."""
    ext = ensemble_pb2.VoteExtension(beacon_share=beacon_share, answers=list(answers))
    return ext.SerializeToString(deterministic=True)


def parse_vote_extension(raw: bytes) -> ensemble_pb2.VoteExtension | None:
    """The extension raw encodes, or None if it is oversized, malformed, non-canonical or unordered.

    Answers must name each query once, in increasing id order.
    """
    if len(raw) > MAX_VOTE_EXTENSION_BYTES:
        return None
    try:
        ext = parse_canonical(ensemble_pb2.VoteExtension, raw, "vote extension")
    except SynodError:
        return None
    ids = [a.query_id for a in ext.answers]
    if any(later <= earlier for earlier, later in zip(ids, ids[1:], strict=False)):
        return None
    return ext


def compute_extension_sign_bytes(chain_id: str, height: int, round_: int, extension: bytes) -> bytes:
    """What a validator's consensus key signs for its vote extension (CometBFT's VoteExtensionSignBytes).

    The length-delimited CanonicalVoteExtension: uvarint(size) then the proto bytes.
    """
    canonical = canonical_pb2.CanonicalVoteExtension(
        extension=extension, height=height, round=round_, chain_id=chain_id
    ).SerializeToString(deterministic=True)
    size, prefix = len(canonical), bytearray()
    while True:
        byte, size = size & 0x7F, size >> 7
        prefix.append(byte | (0x80 if size else 0))
        if not size:
            return bytes(prefix) + canonical
