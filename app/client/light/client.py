"""The light client: from one trusted (height, hash), verify any later header CometBFT serves.

Skipping mode follows CometBFT light/client.go verifySkipping: jump straight to the target; when
too little of the trusted set signed it, bisect towards the trusted height and climb back up.
Sequential mode verifies every header against the one before and stores one in every
`checkpoint_interval` and the target (store.py says what is kept and why a crash is safe).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from app.client.light.errors import (
    HeaderExpired,
    InsufficientTrust,
    InvalidHeaderHash,
    InvalidValidatorSet,
    MalformedData,
)
from app.client.light.hashing import header_hash, validator_set_hash
from app.client.light.store import TrustedStore
from app.client.light.timestamps import Timestamp, format_rfc3339
from app.client.light.types import (
    Header,
    LightBlock,
    SignedHeader,
    ValidatorSet,
)
from app.client.light.verifier import (
    DEFAULT_TRUST_LEVEL,
    is_header_expired,
    validate_signed_header,
    validate_trust_level,
    verify,
    verify_adjacent,
    verify_backwards,
    verify_commit_light,
)

__all__ = ["DEFAULT_CHECKPOINT_INTERVAL", "TrustOptions", "HeaderSource", "LightClient", "now_timestamp"]

# A sequential catch-up writes the header at every multiple of this height: one durable write per
# 100 verified headers (~1% of the time), and a crash costs at most 99 re-verified headers.
DEFAULT_CHECKPOINT_INTERVAL = 100


@dataclass(frozen=True)
class TrustOptions:
    """Where trust starts: a height and header hash learned out of band, and how long it lasts."""

    height: int
    hash: bytes
    period_seconds: int


class HeaderSource(Protocol):
    """What the client reads from a full node (CometRPC provides it)."""

    def commit(self, height: int | None = None) -> dict[str, Any]:
        """The signed header at height (latest if None)."""
        ...

    def validators(self, height: int | None = None) -> list[dict[str, Any]]:
        """Every validator of the set that signed height."""
        ...


def now_timestamp() -> Timestamp:
    """The wall clock as (seconds, nanos)."""
    return divmod(time.time_ns(), 10**9)


class LightClient:
    """Verifies headers of one chain against a trust anchor, keeping what it verified in a store."""

    def __init__(
        self,
        chain_id: str,
        rpc: HeaderSource,
        store: TrustedStore,
        trust_options: TrustOptions,
        max_clock_drift_seconds: int = 10,
        now_fn: Callable[[], Timestamp] = now_timestamp,
        trust_level: Fraction = DEFAULT_TRUST_LEVEL,
        sequential: bool = False,
        checkpoint_interval: int = DEFAULT_CHECKPOINT_INTERVAL,
    ) -> None:
        """Check the settings and make sure the trust anchor is verified and stored."""
        if trust_options.height <= 0 or trust_options.period_seconds <= 0:
            raise ValueError(f"trust height and period must be positive, got {trust_options}")
        if checkpoint_interval <= 0:
            raise ValueError(f"checkpoint interval must be positive, got {checkpoint_interval}")
        validate_trust_level(trust_level)
        self.chain_id = chain_id
        self.rpc = rpc
        self.store = store
        self.trust_options = trust_options
        self.max_clock_drift_seconds = max_clock_drift_seconds
        self.now_fn = now_fn
        self.trust_level = trust_level
        self.sequential = sequential
        self.checkpoint_interval = checkpoint_interval
        self.headers_verified = 0  # headers whose commit this client checked (for progress and benchmarks)
        self._initialize()

    def _initialize(self) -> None:
        """Store the anchor: the header at the trusted height must hash to the trusted hash."""
        opts = self.trust_options
        stored = self.store.load(opts.height)
        if stored is not None:
            self._check_anchor_hash(stored, f"the trusted store at {self.store.directory}")
            return
        block = self._fetch(opts.height)
        self._check_anchor_hash(block, "the node")
        validate_signed_header(block.signed_header, self.chain_id)
        commit = block.signed_header.commit
        verify_commit_light(self.chain_id, block.validator_set, commit.block_id, opts.height, commit)
        self.store.save(block)

    def _check_anchor_hash(self, block: LightBlock, source: str) -> None:
        """Raise InvalidHeaderHash unless block is the header the trust options name."""
        computed = header_hash(block.header)
        if computed != self.trust_options.hash:
            raise InvalidHeaderHash(
                f"{source} has header {computed.hex().upper()} at height {block.height}, but the "
                f"trust options name {self.trust_options.hash.hex().upper()}: check the trusted "
                "hash (or remove a store made for another chain)"
            )

    def _fetch(self, height: int) -> LightBlock:
        """Read the signed header and validator set at height; check they belong together."""
        signed = SignedHeader.from_rpc(self.rpc.commit(height))
        if signed.header.height != height:
            raise MalformedData(f"asked the node for height {height}, got {signed.header.height}")
        vals = ValidatorSet.from_rpc(self.rpc.validators(height))
        supplied = validator_set_hash(vals)
        if supplied != signed.header.validators_hash:
            raise InvalidValidatorSet(
                f"validator set served for height {height} hashes to {supplied.hex().upper()}, "
                f"header names {signed.header.validators_hash.hex().upper()}"
            )
        return LightBlock(signed, vals)

    def latest_trusted(self) -> LightBlock:
        """The highest verified block."""
        latest = self.store.latest()
        if latest is None:
            raise MalformedData(f"trusted store at {self.store.directory} lost its anchor")
        return latest

    def verify_to_height(self, height: int) -> Header:
        """Verify (or look up) the header at height, forwards or backwards from what is trusted."""
        if height <= 0:
            raise ValueError(f"height must be positive, got {height}")
        stored = self.store.load(height)
        if stored is not None:
            return stored.header
        now = self.now_fn()
        latest = self.latest_trusted()
        if height < latest.height:
            return self._verify_backwards(height, now).header
        target = self._fetch(height)
        if self.sequential:
            self._verify_sequential(latest, target, now)
        else:
            self._verify_skipping(latest, target, now)
        return target.header

    def verify_latest(self) -> Header:
        """Verify the newest header the node has."""
        return self.verify_to_height(SignedHeader.from_rpc(self.rpc.commit()).header.height)

    def app_hash_at(self, height: int) -> bytes:
        """The app hash of the state committed at height: it is carried by header height + 1."""
        return self.verify_to_height(height + 1).app_hash

    def _verify_sequential(self, trusted: LightBlock, target: LightBlock, now: Timestamp) -> None:
        """Verify every header from trusted to target, each against the one before.

        Stores each checkpoint height as it is reached and, at the end, the last header verified
        (the target, or the one before a header that failed), so no verified progress is dropped.
        """
        stored = trusted.height
        try:
            for h in range(trusted.height + 1, target.height + 1):
                block = target if h == target.height else self._fetch(h)
                verify_adjacent(
                    trusted.signed_header,
                    block.signed_header,
                    block.validator_set,
                    self.trust_options.period_seconds,
                    now,
                    self.max_clock_drift_seconds,
                )
                self.headers_verified += 1
                trusted = block
                if h % self.checkpoint_interval == 0:
                    self.store.save(block)
                    stored = h
        finally:
            if trusted.height != stored:
                self.store.save(trusted)

    def _verify_skipping(self, trusted: LightBlock, target: LightBlock, now: Timestamp) -> None:
        """Bisection: try the furthest pending block; if trust is short, fetch the midpoint."""
        pending = [target]  # pending[0] is the target; later entries are ever-closer pivots
        depth = 0
        while True:
            candidate = pending[depth]
            try:
                verify(
                    trusted.signed_header,
                    trusted.validator_set,
                    candidate.signed_header,
                    candidate.validator_set,
                    self.trust_options.period_seconds,
                    now,
                    self.max_clock_drift_seconds,
                    self.trust_level,
                )
            except InsufficientTrust:
                if depth == len(pending) - 1:
                    pivot = trusted.height + (candidate.height - trusted.height) // 2
                    pending.append(self._fetch(pivot))
                depth += 1
                continue
            self.headers_verified += 1
            self.store.save(candidate)
            if depth == 0:
                return
            trusted, pending, depth = candidate, pending[:depth], 0

    def _verify_backwards(self, height: int, now: Timestamp) -> LightBlock:
        """Follow last_block_id hashes down from the lowest trusted block above height."""
        above = min(h for h in self.store.heights() if h > height)
        trusted = self.store.load(above)
        assert trusted is not None  # `above` was just listed in the store
        if is_header_expired(trusted.header, self.trust_options.period_seconds, now):
            raise HeaderExpired(
                f"trusted header at height {above} ({format_rfc3339(trusted.header.time)}) is "
                f"outside the {self.trust_options.period_seconds}s trusting period"
            )
        for h in range(above - 1, height - 1, -1):
            block = self._fetch(h)
            verify_backwards(block.header, trusted.header)
            trusted = block
        self.store.save(trusted)
        return trusted
