"""Ed25519 keys and signatures (PyNaCl, the one verifier everywhere) and bech32 addresses."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import bech32
import nacl.exceptions
import nacl.signing

__all__ = [
    "ADDRESS_PREFIX",
    "ADDRESS_LEN",
    "PUBKEY_LEN",
    "SIGNATURE_LEN",
    "AddressError",
    "PrivateKey",
    "address_bytes_from_pubkey",
    "address_from_pubkey",
    "decode_address",
    "encode_address",
    "is_valid_signature",
    "module_address",
]

ADDRESS_PREFIX = "synod"
ADDRESS_LEN = 20
PUBKEY_LEN = 32
SIGNATURE_LEN = 64


class AddressError(ValueError):
    """A string is not a valid bech32 `synod1...` address."""


def address_bytes_from_pubkey(pubkey: bytes) -> bytes:
    """The 20-byte account address of an ed25519 public key: SHA-256(pubkey)[:20]."""
    if len(pubkey) != PUBKEY_LEN:
        raise ValueError(f"ed25519 public key must be {PUBKEY_LEN} bytes, got {len(pubkey)}")
    return hashlib.sha256(pubkey).digest()[:ADDRESS_LEN]


# bech32 is pure Python and was the largest cost per transaction; both directions are pure
# functions, so a bounded cache is safe for determinism.
_ADDRESS_CACHE = 1 << 16


@lru_cache(maxsize=_ADDRESS_CACHE)
def encode_address(raw: bytes, prefix: str = ADDRESS_PREFIX) -> str:
    """Bech32-encode 20 address bytes."""
    if len(raw) != ADDRESS_LEN:
        raise AddressError(f"address must be {ADDRESS_LEN} bytes, got {len(raw)}")
    data = bech32.convertbits(raw, 8, 5)
    assert data is not None  # 8->5 bit conversion of bytes cannot fail
    return bech32.bech32_encode(prefix, data)


@lru_cache(maxsize=_ADDRESS_CACHE)
def decode_address(addr: str, prefix: str = ADDRESS_PREFIX) -> bytes:
    """Decode a bech32 address, checking prefix, checksum, case and length."""
    if not isinstance(addr, str) or not addr:
        raise AddressError("address is empty: expected a bech32 address like synod1...")
    if addr != addr.lower():
        raise AddressError(f"address {addr!r} must be lower case")
    hrp, data = bech32.bech32_decode(addr)
    if hrp is None or data is None:
        raise AddressError(f"address {addr!r} is not valid bech32 (bad characters or checksum)")
    if hrp != prefix:
        raise AddressError(f"address {addr!r} has prefix {hrp!r}, expected {prefix!r}")
    raw = bech32.convertbits(data, 5, 8, False)
    if raw is None or len(raw) != ADDRESS_LEN:
        raise AddressError(f"address {addr!r} does not hold {ADDRESS_LEN} bytes")
    return bytes(raw)


def address_from_pubkey(pubkey: bytes) -> str:
    """The bech32 account address of an ed25519 public key."""
    return encode_address(address_bytes_from_pubkey(pubkey))


def module_address(module_name: str) -> str:
    """The address of a module escrow account: SHA-256("module:" + name)[:20]; it has no key."""
    return encode_address(hashlib.sha256(b"module:" + module_name.encode()).digest()[:ADDRESS_LEN])


def is_valid_signature(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """Verify an ed25519 signature; malformed keys or signatures are simply invalid."""
    if len(pubkey) != PUBKEY_LEN or len(signature) != SIGNATURE_LEN:
        return False
    try:
        nacl.signing.VerifyKey(pubkey).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class PrivateKey:
    """An ed25519 signing key held off-chain (keyring, tests, agents)."""

    seed: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> PrivateKey:
        """Build from a 32-byte seed."""
        if len(seed) != 32:
            raise ValueError("ed25519 seed must be 32 bytes")
        return cls(seed)

    @property
    def public_key(self) -> bytes:
        """The 32-byte public key."""
        return bytes(nacl.signing.SigningKey(self.seed).verify_key)

    @property
    def address(self) -> str:
        """The bech32 account address."""
        return address_from_pubkey(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """A 64-byte detached signature."""
        return nacl.signing.SigningKey(self.seed).sign(message).signature
