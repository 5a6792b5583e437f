"""The randomness beacon: BLS wrapper, seed, share and beacon-tx codecs, and the build/check/process
rules over an in-memory store (pre-state / operation / post-state)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core import bls
from app.core.crypto import encode_address
from app.core.errors import ErrTxDecode, SynodError
from app.core.tx import decode_tx
from app.modules.committee import beacon
from app.modules.committee.beacon import CommitVote
from app.modules.committee.errors import ErrBadBeacon
from app.modules.committee.keeper import CommitteeKeeper
from app.state.kv import Branch, MemoryReader
from synod.committee.v1 import beacon_pb2, committee_pb2

CHAIN = "synod-test"
SECRETS = [bls.generate_key(hashlib.sha256(b"beacon-unit:%d" % i).digest()) for i in range(6)]
ADDRESSES = [bytes([0xA0 + i]) * 20 for i in range(6)]
KEEPER = CommitteeKeeper()


def _store(members: int = 4, since: dict[int, int] | None = None) -> Branch:
    """A store whose first `members` validators are on committee duty (since height 0 unless told)."""
    store = Branch(MemoryReader())
    for i in range(members):
        operator = bytes([i + 1]) * 20
        member = committee_pb2.Member(
            operator=encode_address(operator),
            cons_address=ADDRESSES[i],
            bls_pubkey=bls.public_key(SECRETS[i]),
            since_height=(since or {}).get(i, 0),
        )
        KEEPER.set_member(store, operator, member)
    return store


def _share(i: int, height: int, chain: str = CHAIN) -> bytes:
    return bls.sign(SECRETS[i], beacon.compute_share_message(chain, height))


def _votes(n: int, height: int, powers: list[int] | None = None, **ext: bytes) -> list[CommitVote]:
    """n validators that all precommitted `height` with their valid shares (ext overrides by index)."""
    return [
        CommitVote(
            ADDRESSES[i],
            (powers or [1] * n)[i],
            True,
            ext.get(f"v{i}", beacon.encode_share(_share(i, height))),
        )
        for i in range(n)
    ]


def _tx(vote_height: int, entries: list[tuple[bytes, bytes]]) -> bytes:
    return beacon.encode_beacon_tx(
        beacon_pb2.BeaconTx(
            vote_height=vote_height,
            entries=[beacon_pb2.BeaconEntry(validator_address=a, signature=s) for a, s in entries],
        )
    )


def _check(
    store: Branch, height: int, txs: list[bytes], votes: list[CommitVote], required: bool = True
) -> str | None:
    """ProcessProposal's verdict on txs for block `height`."""
    return beacon.check_beacon_tx(store, KEEPER, CHAIN, height, txs, votes, required)


# --- BLS wrapper ------------------------------------------------------------------------------------


def test_bls_signatures_are_unique_and_bound_to_key_and_message() -> None:
    pk = bls.public_key(SECRETS[0])
    sig = bls.sign(SECRETS[0], b"m")
    assert len(pk) == bls.PUBKEY_LEN and len(sig) == bls.SIGNATURE_LEN
    assert bls.sign(SECRETS[0], b"m") == sig  # deterministic: the signer has no choice
    assert bls.is_valid_signature(pk, b"m", sig)
    assert not bls.is_valid_signature(pk, b"n", sig)
    assert not bls.is_valid_signature(bls.public_key(SECRETS[1]), b"m", sig)
    assert not bls.is_valid_signature(pk, b"m", bls.sign(SECRETS[1], b"m"))


def test_bls_rejects_the_identity_and_truncated_points() -> None:
    identity_pk = bytes([0xC0]) + bytes(47)
    identity_sig = bytes([0xC0]) + bytes(95)
    assert not bls.is_valid_public_key(identity_pk)
    assert not bls.is_valid_signature(identity_pk, b"m", identity_sig)
    pk = bls.public_key(SECRETS[0])
    assert bls.is_valid_public_key(pk)
    assert not bls.is_valid_public_key(pk[:-1])
    assert not bls.is_valid_signature(pk, b"m", bls.sign(SECRETS[0], b"m")[:-1])


@settings(max_examples=60, deadline=None)
@given(pubkey=st.binary(max_size=60), sig=st.binary(max_size=110), flip=st.integers(0, 95 * 8 - 1))
def test_bls_verification_never_raises_on_garbage(pubkey: bytes, sig: bytes, flip: int) -> None:
    assert bls.is_valid_signature(pubkey, b"m", sig) is False
    good = bytearray(bls.sign(SECRETS[0], b"m"))
    good[1 + flip // 8] ^= 1 << (flip % 8)  # any single bit flip past the flag byte
    assert bls.is_valid_signature(bls.public_key(SECRETS[0]), b"m", bytes(good)) is False


# --- seed and messages ------------------------------------------------------------------------------


def test_messages_are_domain_separated_and_pinned() -> None:
    assert beacon.compute_share_message("c", 7) == b"synod/beacon/v1c\x00" + (7).to_bytes(8, "big")
    assert beacon.compute_share_message("c", 7) != beacon.compute_share_message("c", 8)
    assert beacon.compute_share_message("c", 7) != beacon.compute_share_message("d", 7)
    assert beacon.compute_possession_message("c", "synod1x") != beacon.compute_share_message("c", 7)


def test_seed_is_pinned() -> None:
    entries = [
        beacon_pb2.BeaconEntry(validator_address=ADDRESSES[i], signature=_share(i, 5)) for i in range(3)
    ]
    seed = beacon.compute_seed(CHAIN, 5, entries)
    assert seed == beacon.compute_seed(CHAIN, 5, list(entries))
    # Pinned: BLS keygen, signing and the seed encoding are consensus rules; a change forks the chain.
    assert seed.hex() == "6da0d63dc48c351ae8c23eaa6e6b25188b1ac6c2de0e66f613eeee460517604c"
    # Any change of chain, height, a share or the order changes it.
    assert seed != beacon.compute_seed("other", 5, entries)
    assert seed != beacon.compute_seed(CHAIN, 6, entries)
    assert seed != beacon.compute_seed(CHAIN, 5, entries[:2])
    assert seed != beacon.compute_seed(CHAIN, 5, entries[::-1])


@settings(max_examples=80, deadline=None)
@given(
    a=st.lists(st.tuples(st.binary(max_size=3), st.binary(max_size=3)), max_size=3),
    b=st.lists(st.tuples(st.binary(max_size=3), st.binary(max_size=3)), max_size=3),
)
def test_seed_encoding_is_unambiguous(a: list[tuple[bytes, bytes]], b: list[tuple[bytes, bytes]]) -> None:
    def seed(pairs: list[tuple[bytes, bytes]]) -> bytes:
        return beacon.compute_seed(
            CHAIN, 1, [beacon_pb2.BeaconEntry(validator_address=x, signature=y) for x, y in pairs]
        )

    assert (seed(a) == seed(b)) == (a == b)


# --- codecs -----------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    vote_height=st.integers(0, 2**63 - 1),
    entries=st.lists(st.tuples(st.binary(max_size=24), st.binary(max_size=100)), max_size=4),
)
def test_beacon_tx_round_trips_and_never_decodes_as_a_signed_tx(
    vote_height: int, entries: list[tuple[bytes, bytes]]
) -> None:
    raw = _tx(vote_height, entries)
    assert beacon.is_beacon_tx(raw)
    decoded = beacon.decode_beacon_tx(raw)
    assert decoded.vote_height == vote_height
    assert [(e.validator_address, e.signature) for e in decoded.entries] == entries
    with pytest.raises(SynodError) as exc:
        decode_tx(raw)
    assert ErrTxDecode.is_(exc.value)


def test_beacon_tx_decoding_rejects_garbage() -> None:
    good = _tx(3, [(ADDRESSES[0], _share(0, 3))])
    body = good[len(beacon.BEACON_TX_PREFIX) :]
    for raw in [
        body,
        beacon.BEACON_TX_PREFIX + b"\xff\xff",
        good + b"\x20\x01",
    ]:  # no prefix, junk, extra field
        with pytest.raises(SynodError) as exc:
            beacon.decode_beacon_tx(raw)
        assert ErrBadBeacon.is_(exc.value)


def test_share_parsing() -> None:
    sig = _share(0, 1)
    assert beacon.parse_share(b"") == b""
    assert beacon.parse_share(beacon.encode_share(sig)) == sig
    assert beacon.parse_share(beacon.encode_share(sig[:95])) is None  # not a G2 encoding's length
    assert beacon.parse_share(beacon.encode_share(sig) + b"\x10\x01") is None  # unknown field
    assert beacon.parse_share(b"\xff" * 10) is None
    assert beacon.parse_share(b"\x0a" + bytes([200]) + bytes(200)) is None  # over the size bound


def test_beacon_height_follows_the_extension_height() -> None:
    assert not beacon.is_beacon_height(0, 5)  # extensions off
    assert not beacon.is_beacon_height(1, 1)  # the first block has no last commit
    assert beacon.is_beacon_height(1, 2)
    assert not beacon.is_beacon_height(10, 10) and beacon.is_beacon_height(10, 11)


# --- VerifyVoteExtension ----------------------------------------------------------------------------


def test_members_must_extend_with_their_valid_share() -> None:
    store = _store(2, since={1: 9})
    ok = beacon.encode_share(_share(0, 9))

    def valid(i: int, ext: bytes, height: int = 9) -> bool:
        return beacon.is_valid_extension(store, KEEPER, CHAIN, ADDRESSES[i], height, ext)

    assert valid(0, ok)
    assert not valid(0, b"")  # withheld
    assert not valid(0, beacon.encode_share(_share(0, 8)))  # another height's share
    assert not valid(0, beacon.encode_share(_share(2, 9)))  # another key's share
    assert not valid(0, b"junk")
    # Joined in block 9: not yet due at 9; a non-member may send nothing or any well-formed share.
    assert valid(1, b"") and valid(1, ok)
    assert valid(3, b"") and valid(3, beacon.encode_share(bytes(96)))
    assert not valid(3, b"junk") and not valid(3, b"\x0a\x05hello")
    assert valid(1, beacon.encode_share(_share(1, 10)), height=10)
    assert not valid(1, b"", height=10)


# --- PrepareProposal / ProcessProposal / FinalizeBlock ----------------------------------------------


def test_honest_flow_builds_checks_and_stores_the_seed() -> None:
    store = _store(4)
    votes = _votes(4, 6)
    raw = beacon.build_beacon_tx(store, KEEPER, CHAIN, 6, votes)
    tx = beacon.decode_beacon_tx(raw)
    assert [e.validator_address for e in tx.entries] == ADDRESSES[:4]
    assert _check(store, 7, [raw, b"user tx"], votes) is None
    outcome = beacon.process_beacon_tx(store, KEEPER, CHAIN, 7, raw, votes)
    assert outcome.missing == frozenset()
    stored = KEEPER.get_seed(store)
    assert stored == outcome.seed
    assert (stored.height, stored.vote_height, stored.shares) == (7, 6, 4)
    assert stored.seed == beacon.compute_seed(CHAIN, 6, tx.entries)


def test_build_leaves_out_unverified_late_extensions_and_non_members() -> None:
    store = _store(3)  # validator 3 is no member
    votes = _votes(5, 6, v1=beacon.encode_share(_share(1, 5)), v2=b"junk")
    votes[4] = CommitVote(ADDRESSES[4], 1, False)  # NIL: no extension
    tx = beacon.decode_beacon_tx(beacon.build_beacon_tx(store, KEEPER, CHAIN, 6, votes))
    assert [e.validator_address for e in tx.entries] == [ADDRESSES[0]]


def test_a_left_out_share_is_missing_and_needs_a_quorum_without_it() -> None:
    store = _store(4)
    votes = _votes(4, 6)
    entries = [(ADDRESSES[i], _share(i, 6)) for i in range(4)]
    # One of four left out: 3 of 4 power is still a commit, so the proposer could have dropped the
    # precommit instead; the member is charged a missed block (process_beacon_tx's `missing`).
    three = _tx(6, entries[:3])
    assert _check(store, 7, [three], votes) is None
    assert beacon.process_beacon_tx(store, KEEPER, CHAIN, 7, three, votes).missing == {ADDRESSES[3]}
    # Two of four: 2 of 4 is no commit.
    assert "voting power" in _check(store, 7, [_tx(6, entries[:2])], votes)
    # Unequal power: leaving out the heavy validator breaks the quorum.
    heavy = _votes(4, 6, powers=[10, 1, 1, 1])
    assert "voting power" in _check(store, 7, [_tx(6, entries[1:])], heavy)


def test_check_rejects_false_foreign_and_misordered_entries() -> None:
    store = _store(4, since={2: 6})
    votes = _votes(4, 6)
    votes[1] = CommitVote(ADDRESSES[1], 1, False)  # NIL
    good = [(ADDRESSES[0], _share(0, 6)), (ADDRESSES[3], _share(3, 6))]
    assert _check(store, 7, [_tx(6, good)], votes) is None
    cases = {
        "does not verify": [good[0], (ADDRESSES[3], _share(3, 5))],  # altered share
        "sorted": good[::-1],  # reordered
        "sorted ": [good[0], good[0], good[1]],  # duplicated
        "owes no share": [good[0], (ADDRESSES[1], _share(1, 6)), good[1]],  # NIL precommit
        "owes no share ": [good[0], (ADDRESSES[2], _share(2, 6)), good[1]],  # joined at the vote height
        "owes no share  ": [good[0], good[1], (ADDRESSES[5], _share(5, 6))],  # not a member
    }
    for needle, entries in cases.items():
        reason = _check(store, 7, [_tx(6, entries)], votes)
        assert reason is not None and needle.strip() in reason, (needle, reason)
    assert "height 5" in _check(store, 7, [_tx(5, good)], votes)


def test_check_places_exactly_one_beacon_tx_first() -> None:
    store = _store(2)
    votes = _votes(2, 6)
    raw = beacon.build_beacon_tx(store, KEEPER, CHAIN, 6, votes)
    assert "must start with" in _check(store, 7, [], votes)
    assert "must start with" in _check(store, 7, [b"user tx", raw], votes)
    assert "only the first" in _check(store, 7, [raw, raw], votes)
    assert "may not carry" in _check(store, 7, [raw], votes, required=False)
    assert _check(store, 7, [b"user tx"], votes, required=False) is None
    assert _check(store, 7, [beacon.BEACON_TX_PREFIX + b"\xff"], votes) is not None


def test_process_raises_a_registered_error() -> None:
    store = _store(2)
    votes = _votes(2, 6)
    with pytest.raises(SynodError) as exc:
        beacon.process_beacon_tx(store, KEEPER, CHAIN, 7, _tx(6, [(ADDRESSES[0], _share(0, 5))]), votes)
    assert ErrBadBeacon.is_(exc.value) and exc.value.code == 11
    assert KEEPER.get_seed(store) is None


@settings(max_examples=40, deadline=None)
@given(
    powers=st.lists(st.integers(1, 50), min_size=1, max_size=6),
    dropped=st.sets(st.integers(0, 5)),
)
def test_leaving_shares_out_is_allowed_exactly_while_a_commit_remains(
    powers: list[int], dropped: set[int]
) -> None:
    n = len(powers)
    store = _store(n)
    votes = _votes(n, 6, powers=powers)
    entries = [(ADDRESSES[i], _share(i, 6)) for i in range(n) if i not in dropped]
    kept = sum(p for i, p in enumerate(powers) if i not in dropped)
    accepted = _check(store, 7, [_tx(6, entries)], votes) is None
    assert accepted == (kept > sum(powers) * 2 // 3)
