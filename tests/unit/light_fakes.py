"""Synthetic CometBFT chains for the light-client tests: validators from fixed seeds, well-formed
headers one second apart, commits really signed, and a HeaderSource that serves them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nacl.signing

from app.client.light import LightClient, TrustedStore, TrustOptions
from app.client.light.hashing import header_hash, validator_set_hash, vote_sign_bytes
from app.client.light.store import DEFAULT_MAX_BLOCKS
from app.client.light.timestamps import Timestamp
from app.client.light.types import (
    BlockID,
    BlockIDFlag,
    Commit,
    CommitSig,
    Header,
    LightBlock,
    PartSetHeader,
    SignedHeader,
    Validator,
    ValidatorSet,
)

__all__ = [
    "DAY",
    "PERIOD",
    "CHAIN",
    "T0",
    "KEYS",
    "GO_ZERO_TIME",
    "after",
    "make_set",
    "signing_keys",
    "make_header",
    "make_block",
    "FakeSource",
    "rotating_chain",
    "static_chain",
    "synthetic_client",
]

DAY = 86_400
PERIOD = 14 * DAY
GO_ZERO_TIME: Timestamp = (-62_135_596_800, 0)  # what CometBFT writes for an absent signature
CHAIN = "synthetic-1"
T0 = 1_700_000_000
KEYS = [nacl.signing.SigningKey(hashlib.sha256(b"validator %d" % i).digest()) for i in range(16)]


def after(ts: Timestamp, seconds: int, nanos: int = 0) -> Timestamp:
    """ts shifted by seconds + nanos (nanos >= 0 and small)."""
    total = ts[1] + nanos
    return ts[0] + seconds + total // 10**9, total % 10**9


def make_set(indices: Sequence[int], powers: Sequence[int] | None = None) -> ValidatorSet:
    """A validator set of KEYS[indices], in CometBFT order (power desc, then address)."""
    powers = powers or [10] * len(indices)
    vals = [Validator(bytes(KEYS[i].verify_key), p) for i, p in zip(indices, powers, strict=True)]
    return ValidatorSet(tuple(sorted(vals, key=lambda v: (-v.voting_power, v.address))))


def signing_keys() -> dict[bytes, nacl.signing.SigningKey]:
    """KEYS by validator address."""
    return {Validator(bytes(k.verify_key), 1).address: k for k in KEYS}


def make_header(height: int, vals: ValidatorSet, next_vals: ValidatorSet, last: BlockID | None) -> Header:
    """A well-formed synthetic header one second per height after T0."""
    digest = lambda tag: hashlib.sha256(f"{tag} {height}".encode()).digest()  # noqa: E731
    return Header(
        version_block=11,
        version_app=1,
        chain_id=CHAIN,
        height=height,
        time=(T0 + height, 250),
        last_block_id=last or BlockID(b"", PartSetHeader(0, b"")),
        last_commit_hash=digest("last commit"),
        data_hash=digest("data"),
        validators_hash=validator_set_hash(vals),
        next_validators_hash=validator_set_hash(next_vals),
        consensus_hash=digest("consensus"),
        app_hash=digest("app"),
        last_results_hash=digest("results"),
        evidence_hash=digest("evidence"),
        proposer_address=vals.validators[0].address,
    )


def make_block(
    header: Header,
    vals: ValidatorSet,
    keys: dict[bytes, nacl.signing.SigningKey],
    flags: Callable[[int], BlockIDFlag] = lambda _: BlockIDFlag.COMMIT,
) -> LightBlock:
    """Sign header's precommits by each validator in vals as flags(slot) says."""
    block_id = BlockID(header_hash(header), PartSetHeader(1, hashlib.sha256(b"parts").digest()))
    sigs = []
    for idx, val in enumerate(vals.validators):
        flag = flags(idx)
        if flag == BlockIDFlag.ABSENT:
            sigs.append(CommitSig(flag, b"", GO_ZERO_TIME, b""))
            continue
        ts = after(header.time, 1, idx)
        signed_id = block_id if flag == BlockIDFlag.COMMIT else None
        msg = vote_sign_bytes(header.chain_id, header.height, 0, signed_id, ts)
        sigs.append(CommitSig(flag, val.address, ts, keys[val.address].sign(msg).signature))
    commit = Commit(header.height, 0, block_id, tuple(sigs))
    return LightBlock(SignedHeader(header, commit), vals)


class FakeSource:
    """A HeaderSource over prepared light blocks that records which heights were fetched."""

    def __init__(self, blocks: dict[int, LightBlock]) -> None:
        self.blocks = blocks
        self.fetched: list[int] = []

    def commit(self, height: int | None = None) -> dict[str, Any]:
        height = max(self.blocks) if height is None else height
        self.fetched.append(height)
        return self.blocks[height].signed_header.to_rpc()

    def validators(self, height: int | None = None) -> list[dict[str, Any]]:
        return self.blocks[max(self.blocks) if height is None else height].validator_set.to_rpc()


def _chain(top: int, set_at: Callable[[int], ValidatorSet]) -> dict[int, LightBlock]:
    """Heights 1..top, height h signed by set_at(h) and announcing set_at(h + 1)."""
    keys = signing_keys()
    blocks: dict[int, LightBlock] = {}
    last: BlockID | None = None
    for h in range(1, top + 1):
        blocks[h] = make_block(make_header(h, set_at(h), set_at(h + 1), last), set_at(h), keys)
        last = blocks[h].signed_header.commit.block_id
    return blocks


def rotating_chain(top: int) -> dict[int, LightBlock]:
    """Heights 1..top (at most 13); the set at h is KEYS[h-1 : h+3]: one validator rotates per height."""
    return _chain(top, lambda h: make_set(range(h - 1, h + 3)))


def static_chain(top: int) -> dict[int, LightBlock]:
    """Heights 1..top, all signed by KEYS[0:4]."""
    vals = make_set(range(4))
    return _chain(top, lambda _: vals)


def synthetic_client(
    source: FakeSource, tmp: Path, max_blocks: int = DEFAULT_MAX_BLOCKS, **kw: Any
) -> LightClient:
    """A client anchored at synthetic height 1, with the clock a minute past the chain."""
    anchor = header_hash(source.blocks[1].header)
    return LightClient(
        CHAIN,
        source,
        TrustedStore(tmp, max_blocks),
        TrustOptions(1, anchor, PERIOD),
        now_fn=lambda: (T0 + 60 + max(source.blocks), 0),
        **kw,
    )
