"""Integer-only light-client types, parsed from (and written back to) CometBFT's RPC JSON."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from typing import Any

from app.client.light.errors import InvalidValidatorSet, MalformedData
from app.client.light.timestamps import Timestamp, format_rfc3339, parse_rfc3339
from app.core.crypto import PUBKEY_LEN, address_bytes_from_pubkey

__all__ = [
    "ED25519_PUBKEY_TYPE",
    "MAX_TOTAL_VOTING_POWER",
    "BlockIDFlag",
    "PartSetHeader",
    "BlockID",
    "Header",
    "CommitSig",
    "Commit",
    "SignedHeader",
    "Validator",
    "ValidatorSet",
    "LightBlock",
]

ED25519_PUBKEY_TYPE = "tendermint/PubKeyEd25519"
# CometBFT caps total power at MaxInt64/8 so that its int64 tallies cannot overflow.
MAX_TOTAL_VOTING_POWER = (2**63 - 1) // 8


class BlockIDFlag(IntEnum):
    """What a commit signature voted for (tendermint.types.BlockIDFlag)."""

    ABSENT = 1
    COMMIT = 2
    NIL = 3


def _get(obj: Mapping[str, Any], key: str) -> Any:
    """obj[key], or MalformedData naming the missing field."""
    if not isinstance(obj, Mapping) or key not in obj:
        raise MalformedData(f"RPC data lacks field {key!r} (got {str(obj)[:200]})")
    return obj[key]


def _hex(obj: Mapping[str, Any], key: str) -> bytes:
    """A hex-encoded bytes field ("" is empty)."""
    value = _get(obj, key)
    try:
        return bytes.fromhex(value)
    except (TypeError, ValueError) as exc:
        raise MalformedData(f"field {key!r} is not hex: {value!r}") from exc


def _b64(obj: Mapping[str, Any], key: str) -> bytes:
    """A base64-encoded bytes field (null is empty)."""
    value = _get(obj, key)
    if value is None:
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (TypeError, ValueError, binascii.Error) as exc:
        raise MalformedData(f"field {key!r} is not base64: {value!r}") from exc


def _int(obj: Mapping[str, Any], key: str) -> int:
    """An integer field; int64s arrive as decimal strings, int32s as JSON numbers."""
    value = _get(obj, key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedData(f"field {key!r} is not an integer: {value!r}")
    try:
        return int(value)
    except ValueError as exc:
        raise MalformedData(f"field {key!r} is not an integer: {value!r}") from exc


def _str(obj: Mapping[str, Any], key: str) -> str:
    """A string field."""
    value = _get(obj, key)
    if not isinstance(value, str):
        raise MalformedData(f"field {key!r} is not a string: {value!r}")
    return value


def _hexstr(raw: bytes) -> str:
    """CometBFT's HexBytes JSON form: upper-case hex."""
    return raw.hex().upper()


@dataclass(frozen=True)
class PartSetHeader:
    """How a block was split into parts for gossip; part of the block id."""

    total: int
    hash: bytes

    @classmethod
    def from_rpc(cls, obj: Mapping[str, Any]) -> PartSetHeader:
        """Parse {"total": n, "hash": "HEX"}."""
        return cls(total=_int(obj, "total"), hash=_hex(obj, "hash"))

    def to_rpc(self) -> dict[str, Any]:
        """The RPC JSON form."""
        return {"total": self.total, "hash": _hexstr(self.hash)}


@dataclass(frozen=True)
class BlockID:
    """A block's identity: the header hash plus the part set header."""

    hash: bytes
    part_set_header: PartSetHeader

    @classmethod
    def from_rpc(cls, obj: Mapping[str, Any]) -> BlockID:
        """Parse {"hash": "HEX", "parts": {...}}."""
        return cls(hash=_hex(obj, "hash"), part_set_header=PartSetHeader.from_rpc(_get(obj, "parts")))

    def to_rpc(self) -> dict[str, Any]:
        """The RPC JSON form."""
        return {"hash": _hexstr(self.hash), "parts": self.part_set_header.to_rpc()}

    def is_zero(self) -> bool:
        """True for the empty block id (a nil vote, or the last block id of height 1)."""
        psh = self.part_set_header
        return not self.hash and psh.total == 0 and not psh.hash


# The byte fields of a header after last_block_id, in hash order.
_HEADER_HASH_FIELDS = (
    "last_commit_hash",
    "data_hash",
    "validators_hash",
    "next_validators_hash",
    "consensus_hash",
    "app_hash",
    "last_results_hash",
    "evidence_hash",
    "proposer_address",
)


@dataclass(frozen=True)
class Header:
    """A CometBFT block header: the 14 fields that its hash covers."""

    version_block: int
    version_app: int
    chain_id: str
    height: int
    time: Timestamp
    last_block_id: BlockID
    last_commit_hash: bytes
    data_hash: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    consensus_hash: bytes
    app_hash: bytes
    last_results_hash: bytes
    evidence_hash: bytes
    proposer_address: bytes

    @classmethod
    def from_rpc(cls, obj: Mapping[str, Any]) -> Header:
        """Parse the "header" object of /block or /commit."""
        version = _get(obj, "version")
        hashes = {k: _hex(obj, k) for k in _HEADER_HASH_FIELDS}
        return cls(
            version_block=_int(version, "block"),
            version_app=_int(version, "app"),
            chain_id=_str(obj, "chain_id"),
            height=_int(obj, "height"),
            time=parse_rfc3339(_get(obj, "time")),
            last_block_id=BlockID.from_rpc(_get(obj, "last_block_id")),
            **hashes,
        )

    def to_rpc(self) -> dict[str, Any]:
        """The RPC JSON form."""
        out: dict[str, Any] = {
            "version": {"block": str(self.version_block), "app": str(self.version_app)},
            "chain_id": self.chain_id,
            "height": str(self.height),
            "time": format_rfc3339(self.time),
            "last_block_id": self.last_block_id.to_rpc(),
        }
        out.update({k: _hexstr(getattr(self, k)) for k in _HEADER_HASH_FIELDS})
        return out


@dataclass(frozen=True)
class CommitSig:
    """One validator's precommit, as kept in a commit (absent ones carry no data)."""

    block_id_flag: BlockIDFlag
    validator_address: bytes
    timestamp: Timestamp
    signature: bytes

    @classmethod
    def from_rpc(cls, obj: Mapping[str, Any]) -> CommitSig:
        """Parse one entry of a commit's "signatures"."""
        flag = _int(obj, "block_id_flag")
        if flag not in BlockIDFlag._value2member_map_:
            raise MalformedData(f"unknown block_id_flag {flag} (expected 1 absent, 2 commit, 3 nil)")
        return cls(
            block_id_flag=BlockIDFlag(flag),
            validator_address=_hex(obj, "validator_address"),
            timestamp=parse_rfc3339(_get(obj, "timestamp")),
            signature=_b64(obj, "signature"),
        )

    def to_rpc(self) -> dict[str, Any]:
        """The RPC JSON form."""
        return {
            "block_id_flag": int(self.block_id_flag),
            "validator_address": _hexstr(self.validator_address),
            "timestamp": format_rfc3339(self.timestamp),
            "signature": base64.b64encode(self.signature).decode() if self.signature else None,
        }


@dataclass(frozen=True)
class Commit:
    """The precommits that decided a block, one slot per validator of that height's set."""

    height: int
    round: int
    block_id: BlockID
    signatures: tuple[CommitSig, ...]

    @classmethod
    def from_rpc(cls, obj: Mapping[str, Any]) -> Commit:
        """Parse the "commit" object of /commit."""
        sigs = _get(obj, "signatures")
        if not isinstance(sigs, list):
            raise MalformedData(f"commit signatures must be a list, got {sigs!r}")
        return cls(
            height=_int(obj, "height"),
            round=_int(obj, "round"),
            block_id=BlockID.from_rpc(_get(obj, "block_id")),
            signatures=tuple(CommitSig.from_rpc(s) for s in sigs),
        )

    def to_rpc(self) -> dict[str, Any]:
        """The RPC JSON form."""
        return {
            "height": str(self.height),
            "round": self.round,
            "block_id": self.block_id.to_rpc(),
            "signatures": [s.to_rpc() for s in self.signatures],
        }


@dataclass(frozen=True)
class SignedHeader:
    """A header and the commit that signs it."""

    header: Header
    commit: Commit

    @classmethod
    def from_rpc(cls, obj: Mapping[str, Any]) -> SignedHeader:
        """Parse the "signed_header" object of /commit."""
        return cls(Header.from_rpc(_get(obj, "header")), Commit.from_rpc(_get(obj, "commit")))

    def to_rpc(self) -> dict[str, Any]:
        """The RPC JSON form."""
        return {"header": self.header.to_rpc(), "commit": self.commit.to_rpc()}


@dataclass(frozen=True)
class Validator:
    """An ed25519 validator; its address is derived from its key, never taken on trust."""

    pub_key: bytes
    voting_power: int
    proposer_priority: int = 0
    address: bytes = field(init=False)

    def __post_init__(self) -> None:
        """Derive the address: SHA-256(pubkey)[:20], CometBFT's ed25519 address."""
        object.__setattr__(self, "address", address_bytes_from_pubkey(self.pub_key))

    @classmethod
    def from_rpc(cls, obj: Mapping[str, Any]) -> Validator:
        """Parse one entry of /validators, checking that its address matches its key."""
        key = _get(obj, "pub_key")
        if _str(key, "type") != ED25519_PUBKEY_TYPE:
            raise InvalidValidatorSet(f"validator key type {key['type']!r} is not supported (ed25519 only)")
        pub_key = _b64(key, "value")
        if len(pub_key) != PUBKEY_LEN:
            raise InvalidValidatorSet(f"ed25519 key must be {PUBKEY_LEN} bytes, got {len(pub_key)}")
        val = cls(pub_key, _int(obj, "voting_power"), _int(obj, "proposer_priority"))
        if _hex(obj, "address") != val.address:
            raise InvalidValidatorSet(
                f"validator address {obj['address']} is not derived from its public key "
                f"(expected {_hexstr(val.address)})"
            )
        return val

    def to_rpc(self) -> dict[str, Any]:
        """The RPC JSON form."""
        return {
            "address": _hexstr(self.address),
            "pub_key": {"type": ED25519_PUBKEY_TYPE, "value": base64.b64encode(self.pub_key).decode()},
            "voting_power": str(self.voting_power),
            "proposer_priority": str(self.proposer_priority),
        }


@dataclass(frozen=True)
class ValidatorSet:
    """Validators in CometBFT's set order (power descending, then address), which the hash covers."""

    validators: tuple[Validator, ...]

    def __post_init__(self) -> None:
        """Reject sets CometBFT could never produce: empty, duplicated, negative or oversized."""
        if not self.validators:
            raise InvalidValidatorSet("validator set is empty")
        if len(self._by_address) != len(self.validators):
            raise InvalidValidatorSet("validator set lists the same validator twice")
        if any(v.voting_power < 0 for v in self.validators):
            raise InvalidValidatorSet("validator set has a negative voting power")
        if self.total_voting_power > MAX_TOTAL_VOTING_POWER:
            raise InvalidValidatorSet(f"total voting power exceeds {MAX_TOTAL_VOTING_POWER}")

    @property
    def total_voting_power(self) -> int:
        """The sum of all voting powers."""
        return sum(v.voting_power for v in self.validators)

    @cached_property
    def _by_address(self) -> dict[bytes, Validator]:
        """Index by address (cached_property writes __dict__ directly, so frozen is fine)."""
        return {v.address: v for v in self.validators}

    def get_by_address(self, address: bytes) -> Validator | None:
        """The validator with this address, if it is in the set."""
        return self._by_address.get(address)

    @classmethod
    def from_rpc(cls, validators: Sequence[Mapping[str, Any]]) -> ValidatorSet:
        """Parse the full list returned by /validators (all pages)."""
        if not isinstance(validators, Sequence):
            raise MalformedData(f"validators must be a list, got {validators!r}")
        return cls(tuple(Validator.from_rpc(v) for v in validators))

    def to_rpc(self) -> list[dict[str, Any]]:
        """The RPC JSON form."""
        return [v.to_rpc() for v in self.validators]


@dataclass(frozen=True)
class LightBlock:
    """A signed header with the validator set of its height."""

    signed_header: SignedHeader
    validator_set: ValidatorSet

    @property
    def header(self) -> Header:
        """The block header."""
        return self.signed_header.header

    @property
    def height(self) -> int:
        """The block height."""
        return self.signed_header.header.height

    @classmethod
    def from_rpc(cls, obj: Mapping[str, Any]) -> LightBlock:
        """Parse {"signed_header": ..., "validators": [...]} (the store's format)."""
        return cls(
            SignedHeader.from_rpc(_get(obj, "signed_header")),
            ValidatorSet.from_rpc(_get(obj, "validators")),
        )

    def to_rpc(self) -> dict[str, Any]:
        """The JSON form that from_rpc reads back."""
        return {"signed_header": self.signed_header.to_rpc(), "validators": self.validator_set.to_rpc()}
