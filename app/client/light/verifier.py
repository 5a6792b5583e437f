"""Header verification as in CometBFT light/verifier.go and types/validation.go (v0.38).

One deliberate difference: every counted signature is checked, where CometBFT's light functions
stop once the threshold is reached; a commit carrying any bad signature is rejected outright.
"""

from __future__ import annotations

from fractions import Fraction

from app.client.light.errors import (
    ChainIdMismatch,
    HeaderExpired,
    HeaderFromFuture,
    InsufficientTrust,
    InsufficientVotingPower,
    InvalidCommit,
    InvalidHeaderHash,
    InvalidSignature,
    InvalidValidatorSet,
    MalformedData,
    NonMonotonic,
)
from app.client.light.hashing import commit_vote_sign_bytes, header_hash, validator_set_hash
from app.client.light.timestamps import Timestamp, format_rfc3339, timestamp_to_ns
from app.client.light.types import (
    BlockID,
    BlockIDFlag,
    Commit,
    Header,
    SignedHeader,
    ValidatorSet,
)
from app.core.crypto import is_valid_signature

__all__ = [
    "BLOCK_PROTOCOL",
    "DEFAULT_TRUST_LEVEL",
    "validate_trust_level",
    "validate_signed_header",
    "verify_commit_light",
    "verify_commit_trusting",
    "is_header_expired",
    "verify_adjacent",
    "verify_non_adjacent",
    "verify",
    "verify_backwards",
]

BLOCK_PROTOCOL = 11  # version.BlockProtocol of CometBFT v0.38
DEFAULT_TRUST_LEVEL = Fraction(1, 3)  # at least one honest validator vouches for the new set
_HASH_LEN = 32
_ADDRESS_LEN = 20
_MAX_CHAIN_ID_LEN = 50
_NS = 10**9


def validate_trust_level(level: Fraction) -> None:
    """Raise ValueError unless 1/3 <= level <= 1 (below 1/3 breaks the security model)."""
    if not Fraction(1, 3) <= level <= 1:
        raise ValueError(f"trust level {level} must lie in [1/3, 1]")


def _check_header_basic(header: Header) -> None:
    """Header.ValidateBasic: protocol version, chain id length, height, hash and address sizes."""
    if header.version_block != BLOCK_PROTOCOL:
        raise MalformedData(
            f"header at height {header.height} has block protocol {header.version_block}, "
            f"expected {BLOCK_PROTOCOL}"
        )
    if len(header.chain_id) > _MAX_CHAIN_ID_LEN:
        raise MalformedData(f"chain id {header.chain_id[:60]!r}... is over {_MAX_CHAIN_ID_LEN} chars")
    if header.height <= 0:
        raise MalformedData(f"header height must be positive, got {header.height}")
    for name in (
        "last_commit_hash",
        "data_hash",
        "validators_hash",
        "next_validators_hash",
        "consensus_hash",
        "last_results_hash",
        "evidence_hash",
    ):
        if len(getattr(header, name)) not in (0, _HASH_LEN):
            raise MalformedData(f"header {name} at height {header.height} is not {_HASH_LEN} bytes")
    if len(header.proposer_address) != _ADDRESS_LEN:
        raise MalformedData(f"header proposer address at height {header.height} is not 20 bytes")


def _check_commit_basic(commit: Commit) -> None:
    """Commit.ValidateBasic: a real block id, signatures, and well-formed non-absent entries."""
    if commit.height <= 0 or commit.round < 0:
        raise InvalidCommit(f"commit has height {commit.height} and round {commit.round}")
    if commit.block_id.is_zero() or not commit.signatures:
        raise InvalidCommit(f"commit at height {commit.height} has no block id or no signatures")
    for idx, sig in enumerate(commit.signatures):
        if sig.block_id_flag != BlockIDFlag.ABSENT and len(sig.validator_address) != _ADDRESS_LEN:
            raise InvalidCommit(f"commit signature #{idx} at height {commit.height} has no address")


def validate_signed_header(signed: SignedHeader, chain_id: str) -> None:
    """SignedHeader.ValidateBasic: right chain, commit for this height and for this header's hash."""
    header, commit = signed.header, signed.commit
    _check_header_basic(header)
    if header.chain_id != chain_id:
        raise ChainIdMismatch(
            f"header at height {header.height} is for chain {header.chain_id!r}, not {chain_id!r}"
        )
    _check_commit_basic(commit)
    if commit.height != header.height:
        raise InvalidCommit(f"commit is for height {commit.height}, header for {header.height}")
    computed = header_hash(header)
    if commit.block_id.hash != computed:
        raise InvalidHeaderHash(
            f"header at height {header.height} hashes to {computed.hex().upper()}, but its commit "
            f"signs block {commit.block_id.hash.hex().upper()}: the header was altered"
        )


def _verify_signature(chain_id: str, commit: Commit, idx: int, pub_key: bytes) -> None:
    """Check commit.signatures[idx] over its canonical vote sign bytes."""
    sig = commit.signatures[idx]
    if not is_valid_signature(pub_key, commit_vote_sign_bytes(chain_id, commit, idx), sig.signature):
        raise InvalidSignature(
            f"signature #{idx} of validator {sig.validator_address.hex().upper()} on block "
            f"{commit.block_id.hash.hex().upper()} at height {commit.height} does not verify"
        )


def verify_commit_light(
    chain_id: str, vals: ValidatorSet, block_id: BlockID, height: int, commit: Commit
) -> None:
    """Check that more than 2/3 of vals' power signed block_id at height; vals[i] owns slot i."""
    if len(vals.validators) != len(commit.signatures):
        raise InvalidCommit(
            f"commit at height {commit.height} has {len(commit.signatures)} signatures for "
            f"{len(vals.validators)} validators"
        )
    if commit.height != height or commit.block_id != block_id:
        raise InvalidCommit(
            f"commit signs block {commit.block_id.hash.hex().upper()} at height {commit.height}, "
            f"expected {block_id.hash.hex().upper()} at {height}"
        )
    tallied = 0
    for idx, (val, sig) in enumerate(zip(vals.validators, commit.signatures, strict=True)):
        if sig.block_id_flag != BlockIDFlag.COMMIT:
            continue
        if sig.validator_address != val.address:
            raise InvalidCommit(
                f"commit slot #{idx} at height {height} is signed by "
                f"{sig.validator_address.hex().upper()}, expected {val.address.hex().upper()}"
            )
        _verify_signature(chain_id, commit, idx, val.pub_key)
        tallied += val.voting_power
    needed = vals.total_voting_power * 2 // 3
    if tallied <= needed:
        raise InsufficientVotingPower(tallied, needed, f"commit at height {height} (needs > 2/3)")


def verify_commit_trusting(
    chain_id: str, vals: ValidatorSet, commit: Commit, trust_level: Fraction = DEFAULT_TRUST_LEVEL
) -> None:
    """Check that more than trust_level of the trusted vals' power signed, matched by address."""
    # Python ints do not overflow; CometBFT's safeMul guard has no counterpart here.
    needed = vals.total_voting_power * trust_level.numerator // trust_level.denominator
    seen: set[bytes] = set()
    tallied = 0
    for idx, sig in enumerate(commit.signatures):
        if sig.block_id_flag != BlockIDFlag.COMMIT:
            continue
        val = vals.get_by_address(sig.validator_address)
        if val is None:
            continue
        if val.address in seen:
            raise InvalidCommit(
                f"validator {val.address.hex().upper()} signs the commit at height {commit.height} twice"
            )
        seen.add(val.address)
        _verify_signature(chain_id, commit, idx, val.pub_key)
        tallied += val.voting_power
    if tallied <= needed:
        raise InsufficientTrust(
            tallied,
            needed,
            f"trusted validators' share of commit at height {commit.height} (needs > {trust_level})",
        )


def is_header_expired(header: Header, trusting_period_s: int, now: Timestamp) -> bool:
    """True once header.time + trusting period is not after now."""
    return timestamp_to_ns(header.time) + trusting_period_s * _NS <= timestamp_to_ns(now)


def _check_not_expired(trusted: Header, trusting_period_s: int, now: Timestamp) -> None:
    """Raise HeaderExpired if the trusted header can no longer vouch for anything."""
    if is_header_expired(trusted, trusting_period_s, now):
        expiry = (trusted.time[0] + trusting_period_s, trusted.time[1])
        raise HeaderExpired(
            f"trusted header at height {trusted.height} expired at {format_rfc3339(expiry)} "
            f"(now {format_rfc3339(now)}); re-initialize from a recent trusted height and hash"
        )


def _verify_new_header_and_vals(
    untrusted: SignedHeader,
    untrusted_vals: ValidatorSet,
    trusted: SignedHeader,
    now: Timestamp,
    max_clock_drift_s: int,
) -> None:
    """verifyNewHeaderAndVals: well formed, moves forward, not from the future, set matches."""
    new, old = untrusted.header, trusted.header
    validate_signed_header(untrusted, old.chain_id)
    if new.height <= old.height:
        raise NonMonotonic(f"new header height {new.height} is not above trusted {old.height}")
    if timestamp_to_ns(new.time) <= timestamp_to_ns(old.time):
        raise NonMonotonic(
            f"new header time {format_rfc3339(new.time)} (height {new.height}) is not after "
            f"trusted {format_rfc3339(old.time)} (height {old.height})"
        )
    if timestamp_to_ns(new.time) >= timestamp_to_ns(now) + max_clock_drift_s * _NS:
        raise HeaderFromFuture(
            f"header at height {new.height} has time {format_rfc3339(new.time)}, beyond now "
            f"{format_rfc3339(now)} plus {max_clock_drift_s}s drift; check the local clock"
        )
    supplied = validator_set_hash(untrusted_vals)
    if supplied != new.validators_hash:
        raise InvalidValidatorSet(
            f"header at height {new.height} names validators {new.validators_hash.hex().upper()}, "
            f"but the supplied set hashes to {supplied.hex().upper()}"
        )


def verify_adjacent(
    trusted: SignedHeader,
    untrusted: SignedHeader,
    untrusted_vals: ValidatorSet,
    trusting_period_s: int,
    now: Timestamp,
    max_clock_drift_s: int,
) -> None:
    """VerifyAdjacent: header X+1 is signed by >2/3 of the set that header X announced."""
    if untrusted.header.height != trusted.header.height + 1:
        raise NonMonotonic(f"headers {trusted.header.height} and {untrusted.header.height} are not adjacent")
    _check_not_expired(trusted.header, trusting_period_s, now)
    _verify_new_header_and_vals(untrusted, untrusted_vals, trusted, now, max_clock_drift_s)
    if untrusted.header.validators_hash != trusted.header.next_validators_hash:
        raise InvalidValidatorSet(
            f"header at height {untrusted.header.height} has validators "
            f"{untrusted.header.validators_hash.hex().upper()}, but trusted header "
            f"{trusted.header.height} announced {trusted.header.next_validators_hash.hex().upper()}"
        )
    commit = untrusted.commit
    verify_commit_light(
        trusted.header.chain_id, untrusted_vals, commit.block_id, untrusted.header.height, commit
    )


def verify_non_adjacent(
    trusted: SignedHeader,
    trusted_vals: ValidatorSet,
    untrusted: SignedHeader,
    untrusted_vals: ValidatorSet,
    trusting_period_s: int,
    now: Timestamp,
    max_clock_drift_s: int,
    trust_level: Fraction = DEFAULT_TRUST_LEVEL,
) -> None:
    """VerifyNonAdjacent: > trust_level of the trusted set and > 2/3 of the new set signed."""
    if untrusted.header.height == trusted.header.height + 1:
        raise NonMonotonic(
            f"headers {trusted.header.height} and {untrusted.header.height} are adjacent: use verify_adjacent"
        )
    _check_not_expired(trusted.header, trusting_period_s, now)
    _verify_new_header_and_vals(untrusted, untrusted_vals, trusted, now, max_clock_drift_s)
    chain_id, commit = trusted.header.chain_id, untrusted.commit
    verify_commit_trusting(chain_id, trusted_vals, commit, trust_level)
    # Last, as in CometBFT: the untrusted set may be made huge to waste the client's time.
    verify_commit_light(chain_id, untrusted_vals, commit.block_id, untrusted.header.height, commit)


def verify(
    trusted: SignedHeader,
    trusted_vals: ValidatorSet,
    untrusted: SignedHeader,
    untrusted_vals: ValidatorSet,
    trusting_period_s: int,
    now: Timestamp,
    max_clock_drift_s: int,
    trust_level: Fraction = DEFAULT_TRUST_LEVEL,
) -> None:
    """Verify: adjacent headers by set continuity, others by trust level."""
    if untrusted.header.height == trusted.header.height + 1:
        verify_adjacent(trusted, untrusted, untrusted_vals, trusting_period_s, now, max_clock_drift_s)
        return
    verify_non_adjacent(
        trusted,
        trusted_vals,
        untrusted,
        untrusted_vals,
        trusting_period_s,
        now,
        max_clock_drift_s,
        trust_level,
    )


def verify_backwards(untrusted: Header, trusted: Header) -> None:
    """VerifyBackwards: header X-1 is the one whose hash trusted header X links to."""
    _check_header_basic(untrusted)
    if untrusted.chain_id != trusted.chain_id:
        raise ChainIdMismatch(
            f"header at height {untrusted.height} is for chain {untrusted.chain_id!r}, "
            f"not {trusted.chain_id!r}"
        )
    if timestamp_to_ns(untrusted.time) >= timestamp_to_ns(trusted.time):
        raise NonMonotonic(
            f"older header time {format_rfc3339(untrusted.time)} (height {untrusted.height}) is "
            f"not before {format_rfc3339(trusted.time)} (height {trusted.height})"
        )
    computed = header_hash(untrusted)
    if computed != trusted.last_block_id.hash:
        raise InvalidHeaderHash(
            f"header at height {untrusted.height} hashes to {computed.hex().upper()}, but trusted "
            f"header {trusted.height} links to {trusted.last_block_id.hash.hex().upper()}"
        )
