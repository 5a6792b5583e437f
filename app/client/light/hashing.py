"""The hashes and sign bytes CometBFT computes: header hash, validator-set hash, vote sign bytes.

Each follows CometBFT v0.38 byte for byte (types/block.go Header.Hash, types/validator_set.go Hash,
types/vote.go VoteSignBytes); the tests check them against a live node.
"""

from __future__ import annotations

from functools import lru_cache

from google.protobuf import timestamp_pb2, wrappers_pb2

import app.pb  # noqa: F401  (puts app/pb on sys.path for the generated tendermint packages)
from app.client.light.merkle import hash_from_byte_slices
from app.client.light.timestamps import Timestamp
from app.client.light.types import BlockID, BlockIDFlag, Commit, Header, ValidatorSet
from app.core.codec import encode_uvarint
from tendermint.crypto import keys_pb2
from tendermint.types import canonical_pb2, types_pb2, validator_pb2
from tendermint.version import types_pb2 as version_pb2

__all__ = [
    "PRECOMMIT_TYPE",
    "header_hash",
    "validator_set_hash",
    "vote_sign_bytes",
    "commit_vote_sign_bytes",
]

PRECOMMIT_TYPE = types_pb2.SIGNED_MSG_TYPE_PRECOMMIT


def _timestamp(ts: Timestamp) -> timestamp_pb2.Timestamp:
    """A google.protobuf.Timestamp (gogoproto StdTime) with full nanoseconds."""
    return timestamp_pb2.Timestamp(seconds=ts[0], nanos=ts[1])


def _block_id_bytes(block_id: BlockID) -> bytes:
    """The proto BlockID; the part set header is non-nullable in gogoproto, so always emitted."""
    pb = types_pb2.BlockID(hash=block_id.hash)
    pb.part_set_header.SetInParent()
    pb.part_set_header.total = block_id.part_set_header.total
    pb.part_set_header.hash = block_id.part_set_header.hash
    return pb.SerializeToString()


def header_hash(header: Header) -> bytes:
    """The block hash: the RFC 6962 root over the 14 proto-encoded header fields, in order."""
    # cdcEncode wraps scalars in gogotypes StringValue/Int64Value/BytesValue; empty values encode
    # to nothing, exactly as an empty proto3 wrapper does.
    version = version_pb2.Consensus(block=header.version_block, app=header.version_app)
    fields = [
        version.SerializeToString(),
        wrappers_pb2.StringValue(value=header.chain_id).SerializeToString(),
        wrappers_pb2.Int64Value(value=header.height).SerializeToString(),
        _timestamp(header.time).SerializeToString(),
        _block_id_bytes(header.last_block_id),
    ]
    fields += [
        wrappers_pb2.BytesValue(value=raw).SerializeToString()
        for raw in (
            header.last_commit_hash,
            header.data_hash,
            header.validators_hash,
            header.next_validators_hash,
            header.consensus_hash,
            header.app_hash,
            header.last_results_hash,
            header.evidence_hash,
            header.proposer_address,
        )
    ]
    return hash_from_byte_slices(fields)


def validator_set_hash(vals: ValidatorSet) -> bytes:
    """The RFC 6962 root over SimpleValidator{pub_key, voting_power} of each validator, in order."""
    return _simple_validators_root(tuple((v.pub_key, v.voting_power) for v in vals.validators))


# The root is a pure function of (key, power) pairs, so a cache cannot change an answer. A set
# rarely changes between heights and is hashed twice per header (as served, then as verified):
# a sequential catch-up hashes each distinct set once.
_SET_HASH_CACHE = 64


@lru_cache(maxsize=_SET_HASH_CACHE)
def _simple_validators_root(members: tuple[tuple[bytes, int], ...]) -> bytes:
    """The validator-set hash of (ed25519 key, voting power) pairs, in set order."""
    leaves = [
        validator_pb2.SimpleValidator(
            pub_key=keys_pb2.PublicKey(ed25519=key), voting_power=power
        ).SerializeToString()
        for key, power in members
    ]
    return hash_from_byte_slices(leaves)


def vote_sign_bytes(
    chain_id: str,
    height: int,
    round_: int,
    block_id: BlockID | None,
    timestamp: Timestamp,
    msg_type: int = PRECOMMIT_TYPE,
) -> bytes:
    """The bytes a validator signs: a uvarint length, then the proto CanonicalVote."""
    vote = canonical_pb2.CanonicalVote(type=msg_type, height=height, round=round_, chain_id=chain_id)
    # CanonicalizeBlockID maps a zero block id (a nil vote) to an absent field, not an empty one.
    if block_id is not None and not block_id.is_zero():
        vote.block_id.hash = block_id.hash
        vote.block_id.part_set_header.SetInParent()
        vote.block_id.part_set_header.total = block_id.part_set_header.total
        vote.block_id.part_set_header.hash = block_id.part_set_header.hash
    # The timestamp is non-nullable in gogoproto: present even at the zero time.
    vote.timestamp.SetInParent()
    vote.timestamp.CopyFrom(_timestamp(timestamp))
    body = vote.SerializeToString()
    return encode_uvarint(len(body)) + body


def commit_vote_sign_bytes(chain_id: str, commit: Commit, index: int) -> bytes:
    """The sign bytes of the precommit behind commit.signatures[index] (COMMIT or NIL)."""
    sig = commit.signatures[index]
    block_id = commit.block_id if sig.block_id_flag == BlockIDFlag.COMMIT else None
    return vote_sign_bytes(chain_id, commit.height, commit.round, block_id, sig.timestamp)
