"""The transaction envelope: strict decoding, sign bytes, and the stateless checks.

A transaction is `TxRaw{body_bytes, auth_info_bytes, signature}`. The signature covers
`SignDoc{body_bytes, auth_info_bytes, chain_id, account_number}` built from the *transmitted*
bytes, so no re-serialization can change what was signed. Encodings must be canonical (what the
protobuf library itself emits), which also makes the tx hash a unique name for the transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from app.core.coins import Coins, coins_from_proto
from app.core.crypto import PUBKEY_LEN, SIGNATURE_LEN, address_from_pubkey
from app.core.errors import (
    ErrInvalidGasLimit,
    ErrInvalidPubKey,
    ErrTxDecode,
    ErrUnauthorized,
)
from synod.tx.v1 import tx_pb2

__all__ = [
    "MAX_GAS_LIMIT",
    "DecodedTx",
    "compute_tx_hash",
    "decode_tx",
    "sign_bytes",
    "encode_tx",
    "parse_canonical",
]


@dataclass(frozen=True)
class DecodedTx:
    """A structurally valid transaction (signature and state not yet checked)."""

    raw: bytes
    body: tx_pb2.TxBody
    auth_info: tx_pb2.AuthInfo
    body_bytes: bytes
    auth_info_bytes: bytes
    signature: bytes
    signer: str
    fee: Coins
    # SHA-256 of `raw` (CometBFT's tx hash): the key of the node-local memos in app/core/txcache.py.
    hash: bytes

    @property
    def gas_limit(self) -> int:
        """The gas limit the signer set (and pays for)."""
        return self.auth_info.fee.gas_limit


M = TypeVar("M", bound=Message)

# CometBFT reports gas_wanted and gas_used as int64: a larger uint64 limit cannot even be answered
# (the protobuf library raises building the CheckTx or FinalizeBlock result, which stops the node).
MAX_GAS_LIMIT = (1 << 63) - 1


def parse_canonical(cls: type[M], data: bytes, what: str) -> M:
    """Parse `data` as `cls`, rejecting malformed, unknown-field or non-canonical encodings."""
    msg = cls()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ErrTxDecode.wrap(f"{what}: malformed protobuf ({e})") from None
    # The library keeps unknown fields when re-serializing, so drop them (recursively) first:
    # any unknown field then shows up as a difference from the transmitted bytes. (types-protobuf's
    # 6.x stubs omit DiscardUnknownFields, which every protobuf runtime since 3.x has.)
    msg.DiscardUnknownFields()  # type: ignore[attr-defined]
    if msg.SerializeToString(deterministic=True) != data:
        raise ErrTxDecode.wrap(
            f"{what}: non-canonical encoding (unknown fields, duplicates or wrong field order)"
        )
    return msg


def compute_tx_hash(raw: bytes) -> bytes:
    """SHA-256 of the exact raw tx bytes, as CometBFT names a transaction."""
    return hashlib.sha256(raw).digest()


def decode_tx(raw: bytes, tx_hash: bytes | None = None) -> DecodedTx:
    """Decode and structurally check a transaction; raises a registered error.

    `tx_hash`, where the caller has it, must be compute_tx_hash(raw).
    """
    tx = parse_canonical(tx_pb2.TxRaw, raw, "tx")
    body = parse_canonical(tx_pb2.TxBody, tx.body_bytes, "tx body")
    auth = parse_canonical(tx_pb2.AuthInfo, tx.auth_info_bytes, "tx auth info")
    if not body.messages:
        raise ErrTxDecode.wrap("transaction has no messages")
    if len(auth.public_key) != PUBKEY_LEN:
        raise ErrInvalidPubKey.wrap(
            f"public key must be {PUBKEY_LEN} bytes of ed25519, got {len(auth.public_key)}"
        )
    if len(tx.signature) != SIGNATURE_LEN:
        raise ErrUnauthorized.wrap(f"signature must be {SIGNATURE_LEN} bytes, got {len(tx.signature)}")
    if auth.fee.gas_limit == 0:
        raise ErrInvalidGasLimit.wrap("gas limit is 0: set --gas (e.g. 200000)")
    if auth.fee.gas_limit > MAX_GAS_LIMIT:
        raise ErrInvalidGasLimit.wrap(
            f"gas limit {auth.fee.gas_limit} exceeds {MAX_GAS_LIMIT}, the largest CometBFT can report"
        )
    return DecodedTx(
        raw=raw,
        body=body,
        auth_info=auth,
        body_bytes=tx.body_bytes,
        auth_info_bytes=tx.auth_info_bytes,
        signature=tx.signature,
        signer=address_from_pubkey(auth.public_key),
        fee=coins_from_proto(auth.fee.amount, "fee"),
        hash=compute_tx_hash(raw) if tx_hash is None else tx_hash,
    )


def sign_bytes(body_bytes: bytes, auth_info_bytes: bytes, chain_id: str, account_number: int) -> bytes:
    """The bytes a signer signs: SignDoc binding the tx to a chain and an account."""
    doc = tx_pb2.SignDoc(
        body_bytes=body_bytes,
        auth_info_bytes=auth_info_bytes,
        chain_id=chain_id,
        account_number=account_number,
    )
    return doc.SerializeToString(deterministic=True)


def encode_tx(body_bytes: bytes, auth_info_bytes: bytes, signature: bytes) -> bytes:
    """Assemble the wire bytes of a signed transaction."""
    raw = tx_pb2.TxRaw(body_bytes=body_bytes, auth_info_bytes=auth_info_bytes, signature=signature)
    return raw.SerializeToString(deterministic=True)
