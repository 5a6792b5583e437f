"""Light-client verification: real CometBFT headers, tampering, and synthetic multi-validator chains."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from app.client.light import (
    ChainIdMismatch,
    HeaderExpired,
    HeaderFromFuture,
    InsufficientTrust,
    InsufficientVotingPower,
    InvalidCommit,
    InvalidHeaderHash,
    InvalidSignature,
    InvalidValidatorSet,
    LightClient,
    NonMonotonic,
    TrustedStore,
    TrustOptions,
)
from app.client.light.hashing import header_hash, validator_set_hash
from app.client.light.timestamps import Timestamp
from app.client.light.types import (
    BlockIDFlag,
    CommitSig,
    Header,
    LightBlock,
    Validator,
    ValidatorSet,
)
from app.client.light.verifier import (
    verify_adjacent,
    verify_commit_light,
    verify_commit_trusting,
    verify_non_adjacent,
)
from tests.unit.conftest_light import LiveChain, fetch_light_block
from tests.unit.light_fakes import (
    CHAIN,
    DAY,
    GO_ZERO_TIME,
    PERIOD,
    T0,
    FakeSource,
    after,
    make_block,
    make_header,
    make_set,
    rotating_chain,
    signing_keys,
    synthetic_client,
)

# The live-node fixture is registered once, as a plugin, so every module shares one node.
pytest_plugins = ("tests.unit.conftest_light",)


def _block_hash(chain: LiveChain, height: int) -> bytes:
    """The block id hash CometBFT reports for height."""
    return bytes.fromhex(chain.rpc.block(height)["block_id"]["hash"])


def _resign(block: LightBlock, header: Header, keys: Sequence[nacl.signing.SigningKey]) -> LightBlock:
    """block with header replaced and its commit re-signed by keys (an attacker's forgery)."""
    vals = ValidatorSet(tuple(Validator(bytes(k.verify_key), 10) for k in keys))
    return make_block(header, vals, {v.address: k for v, k in zip(vals.validators, keys, strict=True)})


# ---------------------------------------------------------------- the real chain


@pytest.fixture(scope="module")
def real(live_chain: LiveChain) -> dict[int, LightBlock]:
    """Light blocks 1..8 of the live node."""
    return {h: fetch_light_block(live_chain.rpc, h) for h in range(1, 9)}


def _now_for(block: LightBlock) -> Timestamp:
    """A plausible 'now': a minute after the block."""
    return after(block.header.time, 60)


def test_verify_adjacent_accepts_real_headers(real: dict[int, LightBlock]) -> None:
    for h in range(2, 8):
        trusted, new = real[h], real[h + 1]
        verify_adjacent(
            trusted.signed_header, new.signed_header, new.validator_set, PERIOD, _now_for(new), 10
        )


def test_verify_non_adjacent_accepts_real_headers(real: dict[int, LightBlock]) -> None:
    for lo, hi in ((1, 8), (2, 5), (3, 7)):
        verify_non_adjacent(
            real[lo].signed_header,
            real[lo].validator_set,
            real[hi].signed_header,
            real[hi].validator_set,
            PERIOD,
            _now_for(real[hi]),
            10,
        )


def _tamper_header(block: LightBlock, **changes: Any) -> LightBlock:
    """block with header fields changed but the original commit kept."""
    header = dataclasses.replace(block.header, **changes)
    return dataclasses.replace(block, signed_header=dataclasses.replace(block.signed_header, header=header))


@pytest.mark.parametrize(
    "changes",
    [
        {"app_hash": b"\x99" * 8},
        {"data_hash": hashlib.sha256(b"other txs").digest()},
        {"last_results_hash": hashlib.sha256(b"other results").digest()},
        {"time": (1, 0)},
    ],
    ids=["app_hash", "data_hash", "last_results_hash", "time"],
)
def test_tampered_header_field_is_rejected(real: dict[int, LightBlock], changes: dict[str, Any]) -> None:
    trusted, new = real[4], _tamper_header(real[5], **changes)
    with pytest.raises(InvalidHeaderHash, match="height 5 hashes to .* the header was altered"):
        verify_adjacent(
            trusted.signed_header, new.signed_header, new.validator_set, PERIOD, _now_for(new), 10
        )


def test_tampered_app_hash_is_rejected_non_adjacent(real: dict[int, LightBlock]) -> None:
    new = _tamper_header(real[7], app_hash=b"\x00" * 8)
    with pytest.raises(InvalidHeaderHash, match="height 7"):
        verify_non_adjacent(
            real[2].signed_header,
            real[2].validator_set,
            new.signed_header,
            new.validator_set,
            PERIOD,
            _now_for(new),
            10,
        )


def test_forged_validator_set_is_rejected(real: dict[int, LightBlock]) -> None:
    forger = nacl.signing.SigningKey(b"\x07" * 32)
    forged_vals = ValidatorSet((Validator(bytes(forger.verify_key), 10),))
    new = real[5]
    with pytest.raises(InvalidValidatorSet, match="supplied set hashes to"):
        verify_adjacent(real[4].signed_header, new.signed_header, forged_vals, PERIOD, _now_for(new), 10)


def test_forged_and_resigned_header_is_rejected(real: dict[int, LightBlock]) -> None:
    forger = nacl.signing.SigningKey(b"\x08" * 32)
    forged_hash = validator_set_hash(ValidatorSet((Validator(bytes(forger.verify_key), 10),)))
    for height, trusted in ((5, real[4]), (7, real[2])):
        header = dataclasses.replace(real[height].header, validators_hash=forged_hash, app_hash=b"\x66" * 8)
        forged = _resign(real[height], header, [forger])
        now = _now_for(forged)
        if height == trusted.height + 1:
            with pytest.raises(InvalidValidatorSet, match="announced"):
                verify_adjacent(
                    trusted.signed_header, forged.signed_header, forged.validator_set, PERIOD, now, 10
                )
        else:
            with pytest.raises(InsufficientTrust, match="0 voting power signed"):
                verify_non_adjacent(
                    trusted.signed_header,
                    trusted.validator_set,
                    forged.signed_header,
                    forged.validator_set,
                    PERIOD,
                    now,
                    10,
                )


def test_flipped_signature_is_rejected_naming_the_validator(real: dict[int, LightBlock]) -> None:
    new = real[6]
    sig = new.signed_header.commit.signatures[0]
    flipped = bytes([sig.signature[0] ^ 1]) + sig.signature[1:]
    commit = dataclasses.replace(
        new.signed_header.commit, signatures=(dataclasses.replace(sig, signature=flipped),)
    )
    bad = dataclasses.replace(new.signed_header, commit=commit)
    with pytest.raises(InvalidSignature, match=sig.validator_address.hex().upper()):
        verify_adjacent(real[5].signed_header, bad, new.validator_set, PERIOD, _now_for(new), 10)


def test_commit_with_the_only_signature_dropped_is_rejected(real: dict[int, LightBlock]) -> None:
    new = real[6]
    absent = CommitSig(BlockIDFlag.ABSENT, b"", GO_ZERO_TIME, b"")
    commit = dataclasses.replace(new.signed_header.commit, signatures=(absent,))
    bad = dataclasses.replace(new.signed_header, commit=commit)
    with pytest.raises(InsufficientVotingPower, match="0 voting power signed, more than 6 needed"):
        verify_adjacent(real[5].signed_header, bad, new.validator_set, PERIOD, _now_for(new), 10)


def test_expired_trusted_header_is_rejected(real: dict[int, LightBlock]) -> None:
    far = after(real[3].header.time, PERIOD + 1)
    with pytest.raises(HeaderExpired, match="height 3 expired"):
        verify_adjacent(real[3].signed_header, real[4].signed_header, real[4].validator_set, PERIOD, far, 10)


def test_header_from_the_future_is_rejected(real: dict[int, LightBlock]) -> None:
    now = after(real[3].header.time, 0, 1)  # just after the trusted header, before the new one
    with pytest.raises(HeaderFromFuture, match="height 4"):
        verify_adjacent(real[3].signed_header, real[4].signed_header, real[4].validator_set, PERIOD, now, 0)


def test_other_chain_and_backwards_headers_are_rejected(real: dict[int, LightBlock]) -> None:
    other = _tamper_header(real[5], chain_id="other-chain")
    now = _now_for(real[8])
    with pytest.raises(ChainIdMismatch, match="other-chain"):
        verify_adjacent(real[4].signed_header, other.signed_header, other.validator_set, PERIOD, now, 10)
    with pytest.raises(NonMonotonic, match="not above"):
        verify_non_adjacent(
            real[7].signed_header,
            real[7].validator_set,
            real[3].signed_header,
            real[3].validator_set,
            PERIOD,
            now,
            10,
        )


# ---------------------------------------------------------------- the light client, real chain


def _client(chain: LiveChain, tmp: Path, height: int, **kw: Any) -> LightClient:
    """A light client anchored at the live node's block at height."""
    options = TrustOptions(height, _block_hash(chain, height), PERIOD)
    return LightClient(chain.chain_id, chain.rpc, TrustedStore(tmp), options, **kw)


@pytest.mark.parametrize("sequential", [False, True])
def test_light_client_verifies_real_chain(live_chain: LiveChain, tmp_path: Path, sequential: bool) -> None:
    client = _client(live_chain, tmp_path, 2, sequential=sequential)
    assert header_hash(client.verify_to_height(8)) == _block_hash(live_chain, 8)
    assert client.headers_verified == (6 if sequential else 1)
    assert client.store.heights() == [2, 8]  # the anchor and the target: no checkpoint height in between


def test_light_client_app_hash_is_taken_from_the_next_header(live_chain: LiveChain, tmp_path: Path) -> None:
    client = _client(live_chain, tmp_path, 1)
    for h in live_chain.tx_heights:
        next_header = live_chain.rpc.block(h + 1)["block"]["header"]
        assert client.app_hash_at(h) == bytes.fromhex(next_header["app_hash"])
    assert client.app_hash_at(live_chain.tx_heights[-1]) != client.app_hash_at(1)


def test_light_client_verifies_backwards_and_resumes_from_its_store(
    live_chain: LiveChain, tmp_path: Path
) -> None:
    client = _client(live_chain, tmp_path, 6)
    assert header_hash(client.verify_to_height(3)) == _block_hash(live_chain, 3)
    client.verify_to_height(8)
    again = _client(live_chain, tmp_path, 6)
    assert again.latest_trusted().height == 8 and again.store.heights() == [3, 6, 8]


def test_light_client_rejects_a_wrong_trusted_hash(live_chain: LiveChain, tmp_path: Path) -> None:
    options = TrustOptions(3, _block_hash(live_chain, 4), PERIOD)
    with pytest.raises(InvalidHeaderHash, match="trust options name"):
        LightClient(live_chain.chain_id, live_chain.rpc, TrustedStore(tmp_path), options)


def test_light_client_refuses_an_expired_anchor(live_chain: LiveChain, tmp_path: Path) -> None:
    start = Header.from_rpc(live_chain.rpc.block(2)["block"]["header"]).time
    client = _client(live_chain, tmp_path, 2, now_fn=lambda: after(start, PERIOD + DAY))
    with pytest.raises(HeaderExpired):
        client.verify_to_height(7)


# ---------------------------------------------------------------- synthetic multi-validator chains


def _signed_by(vals: ValidatorSet, flags: Callable[[int], BlockIDFlag]) -> LightBlock:
    """A block at height 2 of vals, signed as flags says."""
    return make_block(make_header(2, vals, vals, None), vals, signing_keys(), flags)


def _check_light(block: LightBlock) -> None:
    """verify_commit_light on block's own set."""
    commit = block.signed_header.commit
    verify_commit_light(CHAIN, block.validator_set, commit.block_id, commit.height, commit)


def test_more_than_two_thirds_must_sign() -> None:
    vals = make_set([0, 1, 2, 3])
    _check_light(_signed_by(vals, lambda i: BlockIDFlag.COMMIT if i < 3 else BlockIDFlag.ABSENT))
    with pytest.raises(InsufficientVotingPower, match="20 voting power signed, more than 26 needed"):
        _check_light(_signed_by(vals, lambda i: BlockIDFlag.COMMIT if i < 2 else BlockIDFlag.ABSENT))
    # NIL precommits are valid signatures but do not vote for the block.
    with pytest.raises(InsufficientVotingPower, match="20 voting power signed"):
        _check_light(_signed_by(vals, lambda i: BlockIDFlag.COMMIT if i < 2 else BlockIDFlag.NIL))


def test_threshold_counts_power_not_heads() -> None:
    vals = make_set([0, 1, 2, 3], [50, 20, 20, 10])  # sorted: 50, 20, 20, 10; total 100, need > 66
    _check_light(_signed_by(vals, lambda i: BlockIDFlag.COMMIT if i < 2 else BlockIDFlag.ABSENT))
    with pytest.raises(InsufficientVotingPower, match="60 voting power signed, more than 66"):
        _check_light(_signed_by(vals, lambda i: BlockIDFlag.COMMIT if i in (0, 3) else BlockIDFlag.NIL))


def test_commit_slots_must_match_the_validator_set() -> None:
    block = _signed_by(make_set([0, 1, 2, 3]), lambda _: BlockIDFlag.COMMIT)
    commit = block.signed_header.commit
    swapped = dataclasses.replace(commit, signatures=commit.signatures[::-1])
    with pytest.raises(InvalidCommit, match="slot #0"):
        verify_commit_light(CHAIN, block.validator_set, commit.block_id, 2, swapped)
    with pytest.raises(InvalidCommit, match="3 signatures for 4 validators"):
        verify_commit_light(
            CHAIN,
            block.validator_set,
            commit.block_id,
            2,
            dataclasses.replace(commit, signatures=commit.signatures[:3]),
        )


def test_trust_level_of_the_trusted_set() -> None:
    trusted = make_set([0, 1, 2, 3])
    one_overlap = _signed_by(make_set([0, 4, 5, 6]), lambda _: BlockIDFlag.COMMIT)
    two_overlap = _signed_by(make_set([0, 1, 5, 6]), lambda _: BlockIDFlag.COMMIT)
    with pytest.raises(InsufficientTrust, match="10 voting power signed, more than 13 needed"):
        verify_commit_trusting(CHAIN, trusted, one_overlap.signed_header.commit)
    verify_commit_trusting(CHAIN, trusted, two_overlap.signed_header.commit)
    verify_commit_trusting(CHAIN, trusted, one_overlap.signed_header.commit, Fraction(1, 5))
    with pytest.raises(InsufficientTrust):
        verify_commit_trusting(CHAIN, trusted, two_overlap.signed_header.commit, Fraction(2, 3))


def test_trusting_rejects_a_double_vote() -> None:
    block = _signed_by(make_set([0, 1, 2, 3]), lambda _: BlockIDFlag.COMMIT)
    commit = block.signed_header.commit
    doubled = dataclasses.replace(commit, signatures=commit.signatures[:1] * 2 + commit.signatures[2:])
    with pytest.raises(InvalidCommit, match="twice"):
        verify_commit_trusting(CHAIN, block.validator_set, doubled)


def test_non_adjacent_needs_two_thirds_of_the_new_set_too() -> None:
    trusted_vals = make_set([0, 1, 2, 3])
    keys = signing_keys()
    trusted = make_block(make_header(1, trusted_vals, trusted_vals, None), trusted_vals, keys)
    new_vals = make_set([0, 1, 4, 5, 6, 7])  # the two trusted signers hold 20 of the new 60
    new = make_block(
        make_header(5, new_vals, new_vals, None),
        new_vals,
        keys,
        lambda i: BlockIDFlag.COMMIT
        if new_vals.validators[i].address in {v.address for v in trusted_vals.validators}
        else BlockIDFlag.ABSENT,
    )
    with pytest.raises(InsufficientVotingPower, match="20 voting power signed, more than 40") as err:
        verify_non_adjacent(
            trusted.signed_header, trusted_vals, new.signed_header, new_vals, PERIOD, (T0 + 100, 0), 10
        )
    assert not isinstance(err.value, InsufficientTrust)


def test_skipping_bisects_through_rotating_validator_sets(tmp_path: Path) -> None:
    source = FakeSource(rotating_chain(9))
    client = synthetic_client(source, tmp_path)
    assert client.verify_latest() == source.blocks[9].header
    # 1 -> 9 and 1 -> 5 lack trust; 1 -> 3 works; then 3 -> 5, 5 -> 7, 7 -> 9 (as CometBFT does).
    assert source.fetched == [1, 9, 9, 5, 3, 7]
    assert client.store.heights() == [1, 3, 5, 7, 9]


def test_sequential_mode_verifies_every_height_and_stores_checkpoints(tmp_path: Path) -> None:
    source = FakeSource(rotating_chain(7))
    client = synthetic_client(source, tmp_path, sequential=True, checkpoint_interval=3)
    client.verify_to_height(7)
    assert source.fetched == [1, 7, 2, 3, 4, 5, 6] and client.headers_verified == 6
    assert client.store.heights() == [1, 3, 6, 7]


def test_bisection_stops_at_a_forged_pivot(tmp_path: Path) -> None:
    blocks = rotating_chain(9)
    pivot = blocks[5]
    sigs = list(pivot.signed_header.commit.signatures)
    sigs[1] = dataclasses.replace(sigs[1], signature=bytes(64))
    forged_commit = dataclasses.replace(pivot.signed_header.commit, signatures=tuple(sigs))
    blocks[5] = dataclasses.replace(
        pivot, signed_header=dataclasses.replace(pivot.signed_header, commit=forged_commit)
    )
    client = synthetic_client(FakeSource(blocks), tmp_path)
    with pytest.raises(InvalidSignature, match="#1"):
        client.verify_to_height(9)
    assert 9 not in client.store.heights()


def test_client_rejects_a_set_that_does_not_match_its_header(tmp_path: Path) -> None:
    blocks = rotating_chain(4)
    blocks[4] = dataclasses.replace(blocks[4], validator_set=make_set([12, 13, 14, 15]))
    client = synthetic_client(FakeSource(blocks), tmp_path)
    with pytest.raises(InvalidValidatorSet, match="served for height 4"):
        client.verify_to_height(4)
