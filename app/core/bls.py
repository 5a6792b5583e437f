"""BLS12-381 unique signatures (chia_rs AugSchemeMPL): the randomness beacon's per-validator outputs.

A BLS signature is deterministic in (key, message), so a validator's beacon share is a verifiable
output it cannot choose. Keys are 32-byte secrets; public keys 48 bytes (G1); signatures 96 (G2).
"""

from __future__ import annotations

from chia_rs import AugSchemeMPL, G1Element, G2Element, PrivateKey

__all__ = ["generate_key", "is_valid_signature", "public_key", "sign"]


def generate_key(seed: bytes) -> bytes:
    """A secret key derived from at least 32 bytes of seed (EIP-2333 key generation)."""
    return bytes(AugSchemeMPL.key_gen(seed))


def public_key(secret: bytes) -> bytes:
    """The 48-byte public key of a secret key."""
    return bytes(PrivateKey.from_bytes(secret).get_g1())


def sign(secret: bytes, message: bytes) -> bytes:
    """The unique 96-byte signature of message under secret."""
    return bytes(AugSchemeMPL.sign(PrivateKey.from_bytes(secret), message))


def is_valid_signature(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """True if signature is pubkey's signature of message; False for any malformed input."""
    try:
        return bool(
            AugSchemeMPL.verify(G1Element.from_bytes(pubkey), message, G2Element.from_bytes(signature))
        )
    except Exception:  # malformed points raise library-specific errors: all mean "not valid"
        return False
