"""BLS12-381 unique signatures (chia_rs AugSchemeMPL): the randomness beacon's per-validator outputs.

A BLS signature is deterministic in (key, message) and, for a valid public key, the only signature
that verifies: a validator's beacon share is a verifiable output it cannot choose. Keys are 32-byte
secrets; public keys 48 bytes (G1); signatures 96 (G2), both in compressed encoding. The augmented
scheme signs pubkey || message, so rogue-key attacks do not apply.
"""

from __future__ import annotations

from functools import lru_cache

from chia_rs import AugSchemeMPL, G1Element, G2Element, PrivateKey

__all__ = [
    "MAX_MESSAGE_LEN",
    "PUBKEY_LEN",
    "SECRET_LEN",
    "SIGNATURE_LEN",
    "generate_key",
    "is_valid_public_key",
    "is_valid_signature",
    "public_key",
    "sign",
]

SECRET_LEN = 32
PUBKEY_LEN = 48
SIGNATURE_LEN = 96
# Every message the chain verifies is built by the verifier: a domain, the chain id (CometBFT caps it
# at 50 bytes) and a height or a bech32 address, about 130 bytes at most. Longer is never valid.
MAX_MESSAGE_LEN = 512
# A share is checked when its vote arrives, again when a proposal carries it, and again when the
# block is decided: remembering verdicts (a pure function of the bytes) makes the later checks free.
_VERIFY_CACHE_SIZE = 8192


def generate_key(seed: bytes) -> bytes:
    """A secret key derived from at least 32 bytes of seed (EIP-2333 key generation)."""
    return bytes(AugSchemeMPL.key_gen(seed))


def public_key(secret: bytes) -> bytes:
    """The 48-byte public key of a secret key."""
    return bytes(PrivateKey.from_bytes(secret).get_g1())


def sign(secret: bytes, message: bytes) -> bytes:
    """The unique 96-byte signature of message under secret."""
    return bytes(AugSchemeMPL.sign(PrivateKey.from_bytes(secret), message))


def is_valid_public_key(pubkey: bytes) -> bool:
    """True for the canonical encoding of a G1 subgroup point other than the identity."""
    try:
        point = G1Element.from_bytes(pubkey)
    except Exception:  # malformed points raise library-specific errors: all mean "not valid"
        return False
    # The identity would "sign" every message with the identity: no uniqueness, no secret.
    return bytes(point) == pubkey and point != G1Element()


def is_valid_signature(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """True if signature is pubkey's signature of message; False for any malformed input.

    Sizes are checked before the verdict cache: a proposer's multi-MiB "share" (or message) is
    refused without being hashed or remembered, so the cache holds at most _VERIFY_CACHE_SIZE
    entries of 144 + MAX_MESSAGE_LEN bytes.
    """
    if len(pubkey) != PUBKEY_LEN or len(signature) != SIGNATURE_LEN or len(message) > MAX_MESSAGE_LEN:
        return False
    return _verify(pubkey, message, signature)


@lru_cache(maxsize=_VERIFY_CACHE_SIZE)
def _verify(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """The verdict on well-sized inputs (cached: a pure function of the bytes)."""
    if not is_valid_public_key(pubkey):
        return False
    try:
        point = G2Element.from_bytes(signature)
    except Exception:
        return False
    # Only the canonical encoding counts, so the seed (a hash of these bytes) has one input per share.
    if bytes(point) != signature:
        return False
    return bool(AugSchemeMPL.verify(G1Element.from_bytes(pubkey), message, point))
