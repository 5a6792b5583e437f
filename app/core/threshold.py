"""Threshold BLS over BLS12-381 (chia_rs points) and the Feldman commitments of a DKG.

A degree-t polynomial f over the scalar field, f(0) the group secret. Member j (index j >= 1)
holds s_j = f(j); its share signature on m is sigma_j = s_j * H(m) in G2, where H is chia_rs's
hash to G2. Any t + 1 valid shares combine, by Lagrange interpolation at 0, into f(0) * H(m): the
group signature, the only G2 point that verifies under the group key f(0) * g1. Whichever shares a
proposer picks, the signature (and a seed hashed from it) is the same.

Feldman commitments C_k = a_k * g1 to the coefficients let anyone check a share (s_j * g1 equals
sum_k j^k C_k) and compute member j's verification key without learning s_j. chia_rs exposes point
addition but no scalar multiplication, so scalar multiples are computed here by double-and-add
(about 380 additions for a full 255-bit scalar; a few for the small indices in Horner's rule).
Points travel in their 48-byte (G1) and 96-byte (G2) compressed encodings; every decoder rejects a
non-canonical, off-curve or off-subgroup encoding (chia_rs from_bytes checks the subgroup).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TypeVar

from chia_rs import AugSchemeMPL, G1Element, G2Element, PrivateKey
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

__all__ = [
    "CURVE_ORDER",
    "G1_LEN",
    "G2_LEN",
    "IDENTITY_G1",
    "compute_aggregate_commitments",
    "compute_coefficients",
    "compute_commitments",
    "compute_lagrange_at_zero",
    "compute_opened_share",
    "compute_sealed_share",
    "SEALED_SHARE_LEN",
    "compute_public_share",
    "compute_public_shares",
    "compute_share",
    "compute_threshold",
    "combine_shares",
    "decode_g1",
    "decode_g2",
    "is_valid_dealt_share",
    "is_valid_signature_share",
    "is_valid_group_signature",
    "sign_share",
]

# The order r of G1 and G2 (the BLS12-381 scalar field).
CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
G1_LEN = 48
G2_LEN = 96
IDENTITY_G1 = bytes(G1Element())
_COEFF_DOMAIN = b"synod/dkg/coefficient/v1"
_SEAL_DOMAIN = b"synod/dkg/seal/v1"
# A sealed share: the ephemeral point R = r * g1 (48 bytes), then the 32-byte share under
# XSalsa20-Poly1305 (16-byte tag) keyed by SHA-256(R || r * PK).
SEALED_SHARE_LEN = G1_LEN + 16 + 32

_P = TypeVar("_P", G1Element, G2Element)


def compute_threshold(members: int) -> int:
    """t = floor((n - 1) / 3): t + 1 shares sign, so a coalition of at most t (under a third) cannot,
    while the n - t >= 2n/3 honest members can always reach t + 1."""
    return (members - 1) // 3 if members > 0 else 0


def _mul(point: _P, scalar: int, identity: _P) -> _P:
    """scalar * point by double-and-add over chia_rs point additions (scalar reduced mod r)."""
    scalar %= CURVE_ORDER
    result = identity
    addend = point
    while scalar:
        if scalar & 1:
            result = result + addend
        addend = addend + addend
        scalar >>= 1
    return result


def decode_g1(raw: bytes) -> G1Element | None:
    """The G1 point raw encodes canonically, or None (wrong size, off curve or subgroup)."""
    if len(raw) != G1_LEN:
        return None
    try:
        point = G1Element.from_bytes(raw)
    except Exception:  # malformed points raise library-specific errors: all mean "not valid"
        return None
    return point if bytes(point) == raw else None


def decode_g2(raw: bytes) -> G2Element | None:
    """The G2 point raw encodes canonically, or None."""
    if len(raw) != G2_LEN:
        return None
    try:
        point = G2Element.from_bytes(raw)
    except Exception:
        return None
    return point if bytes(point) == raw else None


def _g1_of(scalar: int) -> G1Element:
    """scalar * g1 (natively, through chia_rs's key derivation; zero gives the identity)."""
    return PrivateKey.from_bytes((scalar % CURVE_ORDER).to_bytes(32, "big")).get_g1()


def compute_coefficients(secret: bytes, context: bytes, threshold: int) -> list[int]:
    """The t + 1 coefficients of a dealer's polynomial, derived from its secret and the DKG context.

    Deterministic (like RFC 6979 nonces): a dealer that restarts deals the same polynomial again.
    A zero coefficient is skipped, so the degree is exactly t.
    """
    coeffs: list[int] = []
    counter = 0
    while len(coeffs) < threshold + 1:
        digest = hashlib.sha512(_COEFF_DOMAIN + secret + context + counter.to_bytes(4, "big")).digest()
        counter += 1
        value = int.from_bytes(digest, "big") % CURVE_ORDER
        if value:
            coeffs.append(value)
    return coeffs


def compute_commitments(coefficients: Sequence[int]) -> list[bytes]:
    """The Feldman commitments a_k * g1 of a polynomial's coefficients."""
    return [bytes(_g1_of(a)) for a in coefficients]


def compute_share(coefficients: Sequence[int], index: int) -> int:
    """f(index) mod r (Horner's rule)."""
    value = 0
    for a in reversed(coefficients):
        value = (value * index + a) % CURVE_ORDER
    return value


def _evaluate_commitments(points: Sequence[G1Element], index: int) -> G1Element:
    """sum_k index^k * C_k (Horner's rule: index is small, so each step is a few additions)."""
    result = G1Element()
    for point in reversed(points):
        result = _mul(result, index, G1Element()) + point
    return result


def _decode_all(commitments: Sequence[bytes]) -> list[G1Element]:
    """Decode commitments (each a subgroup check: done once per call, not per index)."""
    points = [decode_g1(c) for c in commitments]
    if any(p is None for p in points):
        raise ValueError("a commitment is not a canonical G1 point")
    return [p for p in points if p is not None]


def compute_public_share(commitments: Sequence[bytes], index: int) -> bytes:
    """The public key f(index) * g1 of member index's share, from the (aggregate) commitments."""
    return bytes(_evaluate_commitments(_decode_all(commitments), index))


def compute_public_shares(commitments: Sequence[bytes], members: int) -> list[bytes]:
    """The verification keys of members 1..members (the commitments decoded once)."""
    points = _decode_all(commitments)
    return [bytes(_evaluate_commitments(points, j)) for j in range(1, members + 1)]


def is_valid_dealt_share(commitments: Sequence[bytes], index: int, share: int) -> bool:
    """Does share = f(index) for the polynomial the commitments bind? (share * g1 == sum index^k C_k)"""
    if not 0 < share < CURVE_ORDER:
        return False
    try:
        expected = compute_public_share(commitments, index)
    except ValueError:
        return False
    return bytes(_g1_of(share)) == expected


def compute_aggregate_commitments(dealings: Sequence[Sequence[bytes]], checked: bool = False) -> list[bytes]:
    """The commitments of the sum of the qualified dealers' polynomials (coefficient-wise sums).

    Entry 0 is the group public key; compute_public_share over them gives each verification key.
    checked: every commitment already passed decode_g1 (MsgDeal checks them), so the costly subgroup
    check (about 90 us a point, n * (t + 1) points) is not repeated.
    """
    if not dealings:
        raise ValueError("no qualified dealing")
    size = len(dealings[0])
    sums = [G1Element() for _ in range(size)]
    for commitments in dealings:
        if len(commitments) != size:
            raise ValueError("dealings of different degrees")
        for k, raw in enumerate(commitments):
            point = G1Element.from_bytes_unchecked(raw) if checked else decode_g1(raw)
            if point is None:
                raise ValueError("a commitment is not a canonical G1 point")
            sums[k] = sums[k] + point
    return [bytes(p) for p in sums]


def _hash(message: bytes) -> G2Element:
    """H(m): chia_rs's hash to G2."""
    return AugSchemeMPL.g2_from_message(message)


def sign_share(share: int, message: bytes) -> bytes:
    """sigma = share * H(m): a member's signature share (deterministic)."""
    return bytes(_mul(_hash(message), share, G2Element()))


def _is_pairing_equal(pubkey: G1Element, message: bytes, signature: G2Element) -> bool:
    """e(g1, signature) == e(pubkey, H(m))."""
    return bytes(G1Element.generator().pair(signature)) == bytes(pubkey.pair(_hash(message)))


def is_valid_signature_share(verification_key: bytes, message: bytes, signature: bytes) -> bool:
    """Is signature member's share on message, for its verification key f(j) * g1?"""
    pubkey, point = decode_g1(verification_key), decode_g2(signature)
    if pubkey is None or point is None or pubkey == G1Element():
        return False
    return _is_pairing_equal(pubkey, message, point)


def is_valid_group_signature(group_key: bytes, message: bytes, signature: bytes) -> bool:
    """Is signature the (unique) group signature on message under the group public key?"""
    return is_valid_signature_share(group_key, message, signature)


def compute_lagrange_at_zero(indices: Sequence[int]) -> dict[int, int]:
    """lambda_i = prod_{j != i} j / (j - i) mod r, for distinct positive indices."""
    if len(set(indices)) != len(indices) or any(i <= 0 for i in indices):
        raise ValueError("indices must be distinct and positive")
    coefficients = {}
    for i in indices:
        num, den = 1, 1
        for j in indices:
            if j != i:
                num = num * j % CURVE_ORDER
                den = den * (j - i) % CURVE_ORDER
        coefficients[i] = num * pow(den, -1, CURVE_ORDER) % CURVE_ORDER
    return coefficients


def combine_shares(shares: Mapping[int, bytes], threshold: int) -> bytes:
    """The group signature from the t + 1 lowest-indexed of the given (already verified) shares.

    Any t + 1 valid shares give the same point; fewer cannot (ValueError).
    """
    if len(shares) < threshold + 1:
        raise ValueError(f"{len(shares)} shares, and {threshold + 1} are needed")
    chosen = sorted(shares)[: threshold + 1]
    result = G2Element()
    for i, coefficient in compute_lagrange_at_zero(chosen).items():
        point = decode_g2(shares[i])
        if point is None:
            raise ValueError(f"share {i} is not a canonical G2 point")
        result = result + _mul(point, coefficient, G2Element())
    return bytes(result)


def _seal_key(ephemeral: G1Element, shared: G1Element) -> SecretBox:
    """The one-time box keyed by SHA-256(domain || R || shared point)."""
    return SecretBox(hashlib.sha256(_SEAL_DOMAIN + bytes(ephemeral) + bytes(shared)).digest())


def compute_sealed_share(recipient_pubkey: bytes, share: int, ephemeral: int) -> bytes:
    """A share sealed to a member's BLS public key (ECDH on G1; ephemeral is a fresh secret scalar).

    The key is used once, so the fixed zero nonce never repeats under one key.
    """
    pubkey = decode_g1(recipient_pubkey)
    if pubkey is None or ephemeral % CURVE_ORDER == 0:
        raise ValueError("the recipient key is not a G1 point, or the ephemeral scalar is zero")
    point = _g1_of(ephemeral)
    box = _seal_key(point, _mul(pubkey, ephemeral, G1Element()))
    return bytes(point) + box.encrypt(share.to_bytes(32, "big"), bytes(SecretBox.NONCE_SIZE)).ciphertext


def compute_opened_share(secret: bytes, sealed: bytes) -> int | None:
    """The share sealed to the holder of BLS secret key `secret`, or None if it does not open."""
    point = decode_g1(sealed[:G1_LEN]) if len(sealed) == SEALED_SHARE_LEN else None
    if point is None:
        return None
    box = _seal_key(point, _mul(point, int.from_bytes(secret, "big"), G1Element()))
    try:
        plain = box.decrypt(sealed[G1_LEN:], bytes(SecretBox.NONCE_SIZE))
    except CryptoError:
        return None
    return int.from_bytes(plain, "big")
