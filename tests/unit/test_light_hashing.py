"""Light-client hashing checked against a live CometBFT node, plus RFC 6962 and RPC-client tests."""

from __future__ import annotations

import calendar
import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import app.pb  # noqa: F401  (puts app/pb on sys.path)
from app.client.light.errors import MalformedData
from app.client.light.hashing import (
    commit_vote_sign_bytes,
    header_hash,
    validator_set_hash,
    vote_sign_bytes,
)
from app.client.light.merkle import (
    compute_aunts,
    compute_root_from_aunts,
    empty_hash,
    hash_from_byte_slices,
    inner_hash,
    leaf_hash,
)
from app.client.light.timestamps import format_rfc3339, parse_rfc3339
from app.client.light.types import (
    BlockID,
    BlockIDFlag,
    Header,
    PartSetHeader,
    SignedHeader,
    ValidatorSet,
)
from app.client.rpc import CometRPC, NodeUnreachable, RpcError
from app.core.crypto import is_valid_signature
from tendermint.types import canonical_pb2, validator_pb2
from tests.unit.conftest_light import LiveChain, fetch_light_block, free_port

# The live-node fixture is registered once, as a plugin, so every module shares one node.
pytest_plugins = ("tests.unit.conftest_light",)

# ---------------------------------------------------------------- against the live node


def _heights(chain: LiveChain) -> range:
    """Every height the fixture guarantees, including height 1 (empty last block id)."""
    return range(1, int(chain.rpc.status()["sync_info"]["latest_block_height"]) + 1)


def test_header_hash_equals_block_id_reported_by_cometbft(live_chain: LiveChain) -> None:
    for height in _heights(live_chain)[:12]:
        block = live_chain.rpc.block(height)
        header = Header.from_rpc(block["block"]["header"])
        assert header_hash(header) == bytes.fromhex(block["block_id"]["hash"]), height


def test_header_hash_of_blocks_with_txs(live_chain: LiveChain) -> None:
    for height in live_chain.tx_heights:
        block = live_chain.rpc.block(height)
        assert block["block"]["data"]["txs"], "the fixture's tx block should carry data"
        header = Header.from_rpc(block["block"]["header"])
        assert header_hash(header) == bytes.fromhex(block["block_id"]["hash"])


def test_app_hash_changes_after_txs(live_chain: LiveChain) -> None:
    first = live_chain.tx_heights[0]
    before = Header.from_rpc(live_chain.rpc.block(first)["block"]["header"]).app_hash
    after = Header.from_rpc(live_chain.rpc.block(first + 1)["block"]["header"]).app_hash
    assert before != after


def test_validator_set_hash_equals_header_validators_hash(live_chain: LiveChain) -> None:
    for height in _heights(live_chain)[:8]:
        block = fetch_light_block(live_chain.rpc, height)
        assert validator_set_hash(block.validator_set) == block.header.validators_hash
        assert validator_set_hash(block.validator_set) == block.header.next_validators_hash


def test_every_commit_signature_verifies_over_our_sign_bytes(live_chain: LiveChain) -> None:
    checked = 0
    for height in _heights(live_chain)[:10]:
        block = fetch_light_block(live_chain.rpc, height)
        commit = block.signed_header.commit
        for idx, sig in enumerate(commit.signatures):
            if sig.block_id_flag == BlockIDFlag.ABSENT:
                continue
            val = block.validator_set.get_by_address(sig.validator_address)
            assert val is not None
            msg = commit_vote_sign_bytes(live_chain.chain_id, commit, idx)
            assert is_valid_signature(val.pub_key, msg, sig.signature), (height, idx)
            assert not is_valid_signature(val.pub_key, msg + b"\x00", sig.signature)
            checked += 1
    assert checked >= 8


def test_rpc_json_round_trips_exactly(live_chain: LiveChain) -> None:
    for height in _heights(live_chain)[:6]:
        raw_signed = live_chain.rpc.commit(height)
        assert SignedHeader.from_rpc(raw_signed).to_rpc() == raw_signed
        raw_vals = live_chain.rpc.validators(height)
        assert ValidatorSet.from_rpc(raw_vals).to_rpc() == raw_vals


# ---------------------------------------------------------------- encodings


def test_block_id_flags_match_the_proto_enum() -> None:
    assert BlockIDFlag.ABSENT == validator_pb2.BLOCK_ID_FLAG_ABSENT
    assert BlockIDFlag.COMMIT == validator_pb2.BLOCK_ID_FLAG_COMMIT
    assert BlockIDFlag.NIL == validator_pb2.BLOCK_ID_FLAG_NIL


def _decode_sign_bytes(raw: bytes) -> canonical_pb2.CanonicalVote:
    """Strip the one-byte uvarint length (short votes) and parse the CanonicalVote."""
    assert raw[0] == len(raw) - 1
    vote = canonical_pb2.CanonicalVote()
    vote.ParseFromString(raw[1:])
    return vote


def test_nil_vote_omits_block_id_and_commit_vote_keeps_it() -> None:
    block_id = BlockID(b"\x11" * 32, PartSetHeader(1, b"\x22" * 32))
    nil_vote = _decode_sign_bytes(vote_sign_bytes("c", 5, 0, None, (7, 123_456_789)))
    zero_vote = _decode_sign_bytes(vote_sign_bytes("c", 5, 0, BlockID(b"", PartSetHeader(0, b"")), (7, 1)))
    commit_vote = _decode_sign_bytes(vote_sign_bytes("c", 5, 2, block_id, (7, 123_456_789)))
    assert not nil_vote.HasField("block_id") and not zero_vote.HasField("block_id")
    assert commit_vote.block_id.hash == block_id.hash and commit_vote.block_id.part_set_header.total == 1
    assert (nil_vote.timestamp.seconds, nil_vote.timestamp.nanos) == (7, 123_456_789)
    assert (commit_vote.height, commit_vote.round, commit_vote.chain_id) == (5, 2, "c")


def test_sign_bytes_keep_a_zero_timestamp_field() -> None:
    # gogoproto non-nullable: the field is written (tag 0x2a, length 0) even at the zero time.
    assert b"\x2a\x00" in vote_sign_bytes("c", 1, 0, None, (0, 0))


@given(st.integers(-62_135_596_800, 253_402_300_799), st.integers(0, 999_999_999))
def test_rfc3339_round_trip(seconds: int, nanos: int) -> None:
    text = format_rfc3339((seconds, nanos))
    assert parse_rfc3339(text) == (seconds, nanos)
    assert not re.search(r"\.\d*0Z$", text), "trailing zeros must be trimmed like Go"


@given(
    st.tuples(
        st.integers(1971, 2400),
        st.integers(1, 12),
        st.integers(1, 28),
        st.integers(0, 23),
        st.integers(0, 59),
        st.integers(0, 59),
    ),
    st.integers(-23 * 60, 23 * 60),
)
def test_rfc3339_parse_matches_calendar_timegm(fields: tuple[int, ...], offset_min: int) -> None:
    y, mo, d, h, mi, s = fields
    sign = "-" if offset_min < 0 else "+"
    offset = f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
    text = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.5{offset}"
    assert parse_rfc3339(text) == (calendar.timegm((y, mo, d, h, mi, s)) - offset_min * 60, 500_000_000)


@pytest.mark.parametrize(
    "bad",
    [
        "2024-02-30T00:00:00Z",
        "2024-01-01 00:00:00Z",
        "2024-01-01T00:00:00.1234567890Z",
        "",
        "2024-01-01T00:00:00Z\n",  # `$` matched before a final newline
        "\u0662\u0660\u0662\u0664-01-01T00:00:00Z",  # Arabic-Indic digits: \d takes them, int() reads them
    ],
)
def test_rfc3339_rejects_malformed_times(bad: str) -> None:
    with pytest.raises(MalformedData, match="time"):
        parse_rfc3339(bad)


# ---------------------------------------------------------------- RFC 6962 Merkle


def _reference_root(items: list[bytes]) -> bytes:
    """Bottom-up pairing, an odd last node promoted unchanged: the same tree, built differently."""
    if not items:
        return hashlib.sha256(b"").digest()
    level = [hashlib.sha256(b"\x00" + item).digest() for item in items]
    while len(level) > 1:
        paired = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def _root_from_path(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.3.2: recompute the root from a leaf and its inclusion path."""
    fn, sn, node = index, size - 1, leaf_hash(leaf)
    for sibling in path:
        assert sn != 0
        if fn & 1 or fn == sn:
            node = inner_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = inner_hash(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0
    return node


def test_merkle_known_small_trees() -> None:
    assert hash_from_byte_slices([]) == empty_hash() == hashlib.sha256(b"").digest()
    assert hash_from_byte_slices([b"a"]) == hashlib.sha256(b"\x00a").digest()
    three = [b"a", b"b", b"c"]
    expected = inner_hash(inner_hash(leaf_hash(b"a"), leaf_hash(b"b")), leaf_hash(b"c"))
    assert hash_from_byte_slices(three) == expected


@given(st.lists(st.binary(max_size=40), max_size=70))
def test_merkle_root_matches_bottom_up_reference(items: list[bytes]) -> None:
    assert hash_from_byte_slices(items) == _reference_root(items)


@given(st.lists(st.binary(max_size=16), min_size=1, max_size=40), st.data())
def test_merkle_inclusion_path_recomputes_the_root(items: list[bytes], data: st.DataObject) -> None:
    index, root = data.draw(st.integers(0, len(items) - 1)), hash_from_byte_slices(items)
    aunts = compute_aunts(items, index)
    # The RFC 9162 verifier above, written independently, agrees with the proof and with ours.
    assert _root_from_path(items[index], index, len(items), aunts) == root
    assert compute_root_from_aunts(index, len(items), items[index], aunts) == root
    assert compute_root_from_aunts(index, len(items), items[index] + b"!", aunts) != root
    if len(set(items)) == len(items) > 1:  # a leaf claimed at another index, or an aunt missing, fails
        assert compute_root_from_aunts((index + 1) % len(items), len(items), items[index], aunts) != root
        assert compute_root_from_aunts(index, len(items), items[index], aunts[:-1]) != root
    assert compute_root_from_aunts(index, len(items), items[index], [*aunts, root]) != root
    assert compute_root_from_aunts(len(items), len(items), items[index], aunts) is None


def test_merkle_leaf_and_inner_are_domain_separated() -> None:
    # Without the 0x00/0x01 prefixes, [a, b] and [leaf(a)+leaf(b)] could collide.
    pair = [b"a", b"b"]
    assert hash_from_byte_slices(pair) != hash_from_byte_slices([leaf_hash(b"a") + leaf_hash(b"b")])


# ---------------------------------------------------------------- the RPC client


def test_rpc_validators_returns_the_whole_set(live_chain: LiveChain) -> None:
    vals = live_chain.rpc.validators()
    assert len(vals) == 1 and vals[0]["pub_key"]["type"] == "tendermint/PubKeyEd25519"


def test_rpc_tx_lookup_and_abci_query(live_chain: LiveChain) -> None:
    rpc = live_chain.rpc
    sent = rpc.broadcast_tx_sync(b"delta=4")
    included = rpc.wait_for_tx(sent["hash"], timeout=20)
    assert int(included["height"]) >= 1 and included["tx_result"]["code"] == 0
    assert rpc.tx(bytes.fromhex(sent["hash"])) is not None
    assert rpc.tx("0x" + "00" * 32) is None
    answer = rpc.abci_query("/store", b"delta")
    assert answer["code"] == 0


def test_rpc_reports_the_nodes_error_message(live_chain: LiveChain) -> None:
    with pytest.raises(RpcError, match="must be less than or equal to the current blockchain height"):
        live_chain.rpc.block(10**9)


def test_rpc_wait_for_tx_times_out_with_a_clear_message(live_chain: LiveChain) -> None:
    with pytest.raises(RpcError, match="was not included within"):
        live_chain.rpc.wait_for_tx(b"\x01" * 32, timeout=0.3, poll=0.1)


def test_rpc_says_when_no_node_is_running() -> None:
    rpc = CometRPC(f"http://127.0.0.1:{free_port()}", timeout=2.0)
    with pytest.raises(NodeUnreachable, match="is the node running"):
        rpc.status()
