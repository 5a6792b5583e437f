"""Byte codecs shared by the state machine: unsigned varints, fixed-width big-endian integers."""

from __future__ import annotations

__all__ = [
    "VarintError",
    "encode_uvarint",
    "decode_uvarint",
    "u64be",
    "from_u64be",
    "encode_amount",
    "decode_amount",
]


class VarintError(ValueError):
    """Malformed or over-long varint."""


def encode_uvarint(n: int) -> bytes:
    """Protobuf-style unsigned LEB128."""
    if n < 0:
        raise VarintError("uvarint cannot encode a negative number")
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decode_uvarint(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int] | None:
    """Decode a uvarint at `pos`; return (value, next position) or None if `buf` ends mid-varint."""
    result = 0
    shift = 0
    while pos < len(buf):
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise VarintError("uvarint longer than 10 bytes")
    return None


def u64be(n: int) -> bytes:
    """Fixed 8-byte big-endian (keys sort numerically)."""
    return n.to_bytes(8, "big")


def from_u64be(b: bytes) -> int:
    """Inverse of u64be."""
    if len(b) != 8:
        raise ValueError(f"expected 8 bytes, got {len(b)}")
    return int.from_bytes(b, "big")


def encode_amount(n: int) -> bytes:
    """A non-negative integer as minimal big-endian bytes (at least one byte)."""
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")


def decode_amount(b: bytes) -> int:
    """Inverse of encode_amount."""
    return int.from_bytes(b, "big")
