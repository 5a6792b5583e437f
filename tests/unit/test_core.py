"""Unit tests for app/core (coins, addresses, signatures, tx envelope, gas) and app/state/kv (branches)."""

from __future__ import annotations

import hashlib

import bech32
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.client.txbuilder import build_tx, msg_send, pack_any
from app.core.codec import encode_uvarint
from app.core.coins import MAX_AMOUNT, Coins, coins_from_proto, parse_coins
from app.core.crypto import (
    AddressError,
    PrivateKey,
    address_bytes_from_pubkey,
    address_from_pubkey,
    decode_address,
    encode_address,
    is_valid_signature,
    module_address,
)
from app.core.errors import (
    ErrInvalidCoins,
    ErrInvalidGasLimit,
    ErrInvalidPubKey,
    ErrorCode,
    ErrOutOfGas,
    ErrTxDecode,
    ErrUnauthorized,
    SynodError,
)
from app.core.gas import GasConfig, GasMeter
from app.core.tx import decode_tx, encode_tx, sign_bytes
from app.state.kv import Branch, GasKV, MemoryReader, PrefixStore, prefix_end
from synod.base.v1 import coin_pb2
from synod.tx.v1 import tx_pb2

KEY = PrivateKey.from_seed(hashlib.sha256(b"core-test").digest())
OTHER = PrivateKey.from_seed(hashlib.sha256(b"core-test-other").digest())
FEE = Coins.of([("usyn", 200_000)])


def _assert_code(excinfo: pytest.ExceptionInfo, err: ErrorCode) -> None:
    assert (excinfo.value.codespace, excinfo.value.code) == (err.codespace, err.code), str(excinfo.value)


# --- coins ----------------------------------------------------------------------------------------


def test_parse_coins_valid_and_sorted() -> None:
    coins = parse_coins(" 1000usyn, 5stake ")

    assert coins == Coins((("stake", 5), ("usyn", 1000)))
    assert coins.amount_of("usyn") == 1000
    assert coins.amount_of("absent") == 0
    assert str(coins) == "5stake,1000usyn"
    assert parse_coins(str(coins)) == coins


def test_parse_coins_accepts_large_and_ibc_style_denoms() -> None:
    coins = parse_coins(f"{MAX_AMOUNT}ibc/abc123")

    assert coins == Coins((("ibc/abc123", MAX_AMOUNT),))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0usyn",
        "-5usyn",
        "1.5usyn",
        "5",
        "usyn",
        "5USYN",
        "5Usyn",
        "5us",
        "5ab",
        "5" + "a" * 129,
        "5usyn!",
        "5 usyn",
        "1usyn,2usyn",
        "1usyn,",
        f"{MAX_AMOUNT + 1}usyn",
        "٣usyn",
    ],
)
def test_parse_coins_rejects(text: str) -> None:
    with pytest.raises(SynodError) as excinfo:
        parse_coins(text)

    _assert_code(excinfo, ErrInvalidCoins)


def test_coins_of_drops_zero_and_rejects_negative_and_duplicates() -> None:
    assert Coins.of([("usyn", 0), ("stake", 3)]) == Coins((("stake", 3),))
    for pairs in ([("usyn", -1)], [("usyn", 1), ("usyn", 2)], [("Bad", 1)], [("usyn", MAX_AMOUNT + 1)]):
        with pytest.raises(SynodError) as excinfo:
            Coins.of(pairs)
        _assert_code(excinfo, ErrInvalidCoins)


# --- addresses ------------------------------------------------------------------------------------


@settings(deadline=None)
@given(st.binary(min_size=20, max_size=20))
def test_address_round_trip(raw: bytes) -> None:
    addr = encode_address(raw)

    assert addr.startswith("synod1")
    assert decode_address(addr) == raw


def test_address_of_pubkey_is_sha256_prefix() -> None:
    pub = KEY.public_key

    assert address_bytes_from_pubkey(pub) == hashlib.sha256(pub).digest()[:20]
    assert decode_address(address_from_pubkey(pub)) == hashlib.sha256(pub).digest()[:20]
    assert KEY.address == address_from_pubkey(pub)
    with pytest.raises(ValueError):
        address_bytes_from_pubkey(pub[:31])


def _flip_last_char(addr: str) -> str:
    last = addr[-1]
    return addr[:-1] + ("q" if last != "q" else "p")


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(_flip_last_char(KEY.address), id="bad-checksum"),
        pytest.param(
            KEY.address[:10] + ("q" if KEY.address[10] != "q" else "p") + KEY.address[11:], id="typo"
        ),
        pytest.param(encode_address(bytes(20), prefix="cosmos"), id="wrong-prefix"),
        pytest.param(KEY.address.upper(), id="upper-case"),
        pytest.param(KEY.address[:8] + KEY.address[8:].upper(), id="mixed-case"),
        pytest.param(bech32.bech32_encode("synod", bech32.convertbits(bytes(21), 8, 5)), id="21-bytes"),
        pytest.param(bech32.bech32_encode("synod", bech32.convertbits(bytes(19), 8, 5)), id="19-bytes"),
        pytest.param(bech32.bech32_encode("synod", bech32.convertbits(bytes(32), 8, 5)), id="32-bytes"),
        pytest.param("", id="empty"),
        pytest.param("synod1", id="no-data"),
        pytest.param("notbech32", id="garbage"),
    ],
)
def test_decode_address_rejects(bad: str) -> None:
    with pytest.raises(AddressError):
        decode_address(bad)


def test_encode_address_rejects_wrong_length() -> None:
    with pytest.raises(AddressError):
        encode_address(bytes(21))


def test_module_addresses_are_distinct_and_keyless_format() -> None:
    fee = module_address("fee_collector")

    assert fee == module_address("fee_collector")
    assert fee != module_address("escrow")
    assert decode_address(fee) == hashlib.sha256(b"module:fee_collector").digest()[:20]


# --- signatures -----------------------------------------------------------------------------------


def test_signature_verifies_and_rejects_tampering() -> None:
    msg = b"sign me"
    sig = KEY.sign(msg)

    assert is_valid_signature(KEY.public_key, msg, sig)
    assert not is_valid_signature(KEY.public_key, msg + b"!", sig)
    assert not is_valid_signature(OTHER.public_key, msg, sig)
    assert not is_valid_signature(KEY.public_key, msg, bytes([sig[0] ^ 1]) + sig[1:])
    assert not is_valid_signature(KEY.public_key, msg, sig[:63])
    assert not is_valid_signature(KEY.public_key[:31], msg, sig)
    assert not is_valid_signature(b"\xff" * 32, msg, sig)
    assert not is_valid_signature(bytes(32), msg, bytes(64))


# --- tx envelope ----------------------------------------------------------------------------------


def _parts(
    *,
    messages: list | None = None,
    public_key: bytes | None = None,
    gas_limit: int = 200_000,
    fee_amount: str = "200000",
) -> tuple[bytes, bytes]:
    """Canonical body and auth-info bytes of a one-send tx."""
    if messages is None:
        messages = [pack_any(msg_send(KEY.address, OTHER.address, Coins.of([("usyn", 5)])))]
    body = tx_pb2.TxBody(messages=messages, memo="m")
    auth = tx_pb2.AuthInfo(
        public_key=KEY.public_key if public_key is None else public_key,
        sequence=3,
        fee=tx_pb2.Fee(amount=[{"denom": "usyn", "amount": fee_amount}], gas_limit=gas_limit),
    )
    return body.SerializeToString(deterministic=True), auth.SerializeToString(deterministic=True)


def _signed(body: bytes, auth: bytes, *, signature: bytes | None = None) -> bytes:
    sig = KEY.sign(sign_bytes(body, auth, "chain", 0)) if signature is None else signature
    return encode_tx(body, auth, sig)


def test_decode_valid_tx() -> None:
    raw = build_tx(
        KEY,
        [msg_send(KEY.address, OTHER.address, Coins.of([("usyn", 5)]))],
        chain_id="chain",
        account_number=0,
        sequence=3,
        fee=FEE,
    )

    tx = decode_tx(raw)

    assert tx.signer == KEY.address
    assert tx.fee == FEE
    assert tx.gas_limit == 200_000
    assert tx.auth_info.sequence == 3
    assert tx.raw == raw


def _decode_error(raw: bytes) -> SynodError:
    with pytest.raises(SynodError) as excinfo:
        decode_tx(raw)
    return excinfo.value


def test_decode_rejects_garbage() -> None:
    err = _decode_error(b"\xff\xfe\x00garbage")

    assert (err.codespace, err.code) == ("sdk", ErrTxDecode.code)


def test_decode_rejects_empty_bytes_as_missing_messages() -> None:
    err = _decode_error(b"")

    assert err.code == ErrTxDecode.code


# An unknown field: number 15, varint 1 (tag 0x78).
UNKNOWN_FIELD = b"\x78\x01"


def test_decode_rejects_unknown_field_appended_to_tx_raw() -> None:
    raw = _signed(*_parts()) + UNKNOWN_FIELD

    err = _decode_error(raw)

    assert err.code == ErrTxDecode.code


def test_decode_rejects_unknown_field_in_body() -> None:
    body, auth = _parts()

    err = _decode_error(_signed(body + UNKNOWN_FIELD, auth))

    assert err.code == ErrTxDecode.code


def test_decode_rejects_unknown_field_in_auth_info() -> None:
    body, auth = _parts()

    err = _decode_error(_signed(body, auth + UNKNOWN_FIELD))

    assert err.code == ErrTxDecode.code


def test_decode_rejects_fields_out_of_order_and_duplicated() -> None:
    body, auth = _parts()
    good = tx_pb2.TxRaw.FromString(_signed(body, auth))
    sig_field = b"\x1a\x40" + good.signature
    body_field = b"\x0a" + encode_uvarint(len(body)) + body
    auth_field = b"\x12" + encode_uvarint(len(auth)) + auth
    assert body_field + auth_field + sig_field == _signed(body, auth)

    reordered = _decode_error(auth_field + body_field + sig_field)
    duplicated = _decode_error(body_field + auth_field + sig_field + sig_field)

    assert reordered.code == ErrTxDecode.code
    assert duplicated.code == ErrTxDecode.code


def test_decode_rejects_explicit_default_value() -> None:
    body, _ = _parts()
    # sequence = 0 written out explicitly (field 2, varint): protobuf itself would omit it.
    auth = tx_pb2.AuthInfo(public_key=KEY.public_key, fee=tx_pb2.Fee(gas_limit=1)).SerializeToString()
    auth_explicit = auth + b"\x10\x00"

    err = _decode_error(_signed(body, auth_explicit))

    assert err.code == ErrTxDecode.code


def test_decode_rejects_empty_messages() -> None:
    err = _decode_error(_signed(*_parts(messages=[])))

    assert err.code == ErrTxDecode.code
    assert "no messages" in str(err)


@pytest.mark.parametrize("size", [0, 31, 33])
def test_decode_rejects_bad_pubkey_length(size: int) -> None:
    err = _decode_error(_signed(*_parts(public_key=b"\x01" * size)))

    assert (err.codespace, err.code) == (ErrInvalidPubKey.codespace, ErrInvalidPubKey.code)


@pytest.mark.parametrize("size", [0, 63, 65])
def test_decode_rejects_bad_signature_length(size: int) -> None:
    err = _decode_error(_signed(*_parts(), signature=b"\x02" * size))

    assert (err.codespace, err.code) == (ErrUnauthorized.codespace, ErrUnauthorized.code)


def test_decode_rejects_zero_gas() -> None:
    err = _decode_error(_signed(*_parts(gas_limit=0)))

    assert (err.codespace, err.code) == (ErrInvalidGasLimit.codespace, ErrInvalidGasLimit.code)


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param("01", id="leading-zero"),
        pytest.param("-1", id="negative"),
        pytest.param("1.0", id="decimal"),
        pytest.param("", id="empty"),
        pytest.param("\u00b2", id="superscript-two"),
    ],
)
def test_decode_rejects_non_canonical_fee_amount(amount: str) -> None:
    err = _decode_error(_signed(*_parts(fee_amount=amount)))

    assert (err.codespace, err.code) == (ErrInvalidCoins.codespace, ErrInvalidCoins.code)


def test_sign_bytes_bind_every_input() -> None:
    body, auth = _parts()
    base = sign_bytes(body, auth, "synod-1", 7)

    variants = [
        sign_bytes(body, auth, "synod-2", 7),
        sign_bytes(body, auth, "synod-1", 8),
        sign_bytes(body + b"x", auth, "synod-1", 7),
        sign_bytes(body, auth + b"x", "synod-1", 7),
    ]

    assert len({base, *variants}) == 5
    assert sign_bytes(body, auth, "synod-1", 7) == base


@settings(deadline=None)
@given(
    st.tuples(st.text(max_size=20), st.integers(0, (1 << 64) - 1)),
    st.tuples(st.text(max_size=20), st.integers(0, (1 << 64) - 1)),
)
def test_sign_bytes_differ_for_different_chain_or_account(a: tuple[str, int], b: tuple[str, int]) -> None:
    body, auth = b"\x0a\x00", b"\x0a\x20" + bytes(32)

    same = sign_bytes(body, auth, *a) == sign_bytes(body, auth, *b)

    assert same == (a == b)


# --- gas ------------------------------------------------------------------------------------------


def test_gas_meter_raises_past_the_limit_only() -> None:
    meter = GasMeter(100)
    meter.consume(60, "a")
    meter.consume(40, "b")
    assert (meter.consumed, meter.remaining) == (100, 0)

    with pytest.raises(SynodError) as excinfo:
        meter.consume(1, "c")

    _assert_code(excinfo, ErrOutOfGas)
    assert meter.consumed == 101
    assert meter.remaining == 0
    assert "c: used 101 of gas limit 100" in str(excinfo.value)


CFG = GasConfig(read_flat=7, read_per_byte=2, write_flat=11, write_per_byte=3, delete=13, iter_next_flat=5)


def test_gas_kv_charges_each_operation_per_config() -> None:
    store = Branch(MemoryReader({b"ka": b"vvv", b"kb": b"w"}))
    meter = GasMeter(10**9)
    kv = GasKV(store, meter, CFG)
    charges = []

    def charged(op) -> int:  # noqa: ANN001
        before = meter.consumed
        op()
        charges.append(meter.consumed - before)
        return charges[-1]

    assert charged(lambda: kv.get(b"ka")) == 7 + 2 * (2 + 3)
    assert charged(lambda: kv.get(b"missing")) == 7 + 2 * 7
    assert charged(lambda: kv.set(b"kc", b"12345")) == 11 + 3 * (2 + 5)
    assert charged(lambda: kv.delete(b"kb")) == 13
    assert charged(lambda: list(kv.iterate(b"k"))) == (5 + 2 * (2 + 3)) + (5 + 2 * (2 + 5))
    assert store.get(b"kc") == b"12345"
    assert store.get(b"kb") is None


def test_gas_kv_out_of_gas_write_is_not_applied() -> None:
    store = Branch(MemoryReader())
    meter = GasMeter(10)
    kv = GasKV(store, meter, CFG)

    with pytest.raises(SynodError) as excinfo:
        kv.set(b"k", b"v")

    _assert_code(excinfo, ErrOutOfGas)
    assert store.get(b"k") is None
    assert store.writes == {}


# --- branches -------------------------------------------------------------------------------------


def test_prefix_end() -> None:
    assert prefix_end(b"\x01\x02") == b"\x01\x03"
    assert prefix_end(b"\x01\xff") == b"\x02"
    assert prefix_end(b"\xff\xff") is None


def test_nested_branch_writes_back_only_on_write() -> None:
    base = MemoryReader({b"a": b"1", b"b": b"2"})
    parent = Branch(base)
    child = parent.branch()
    child.set(b"c", b"3")
    child.delete(b"a")
    child.set(b"b", b"22")
    assert (parent.get(b"a"), parent.get(b"b"), parent.get(b"c")) == (b"1", b"2", None)

    child.write()

    assert (parent.get(b"a"), parent.get(b"b"), parent.get(b"c")) == (None, b"22", b"3")
    assert child.writes == {}
    assert (base.get(b"a"), base.get(b"c")) == (b"1", None)
    assert list(parent.iterate(b"")) == [(b"b", b"22"), (b"c", b"3")]


def test_discarded_branch_leaves_parent_untouched() -> None:
    parent = Branch(MemoryReader({b"a": b"1"}))
    parent.set(b"p", b"x")
    before = dict(parent.writes)

    child = parent.branch()
    child.set(b"a", b"changed")
    child.delete(b"p")
    del child

    assert parent.writes == before
    assert list(parent.iterate(b"")) == [(b"a", b"1"), (b"p", b"x")]


def test_iteration_merges_overlay_and_parent_in_order() -> None:
    parent = Branch(MemoryReader({b"k1": b"a", b"k3": b"c", b"k5": b"e", b"x": b"out"}))
    parent.set(b"k2", b"b")
    child = parent.branch()
    child.set(b"k4", b"d")
    child.delete(b"k3")
    child.set(b"k1", b"A")
    child.delete(b"k9")

    assert list(child.iterate(b"k")) == [(b"k1", b"A"), (b"k2", b"b"), (b"k4", b"d"), (b"k5", b"e")]
    assert list(parent.iterate(b"k")) == [(b"k1", b"a"), (b"k2", b"b"), (b"k3", b"c"), (b"k5", b"e")]


def test_prefix_store_scopes_keys() -> None:
    store = Branch(MemoryReader({b"\x01a": b"1", b"\x02a": b"2"}))
    ps = PrefixStore(store, b"\x01")

    ps.set(b"b", b"3")
    ps.delete(b"a")

    assert store.get(b"\x01b") == b"3"
    assert store.get(b"\x02a") == b"2"
    assert list(ps.iterate(b"")) == [(b"b", b"3")]


_KEYS = st.binary(min_size=1, max_size=3).map(lambda b: bytes(x % 3 * 0x7F for x in b))
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 1), _KEYS, st.binary(min_size=1, max_size=2)),
        st.tuples(st.just("delete"), st.integers(0, 1), _KEYS, st.just(b"")),
        st.tuples(st.just("write"), st.just(1), st.just(b""), st.just(b"")),
    ),
    max_size=40,
)


def _view(*layers: dict[bytes, bytes | None]) -> dict[bytes, bytes]:
    """The dict a stack of overlays (bottom first) amounts to."""
    out: dict[bytes, bytes] = {}
    for layer in layers:
        for k, v in layer.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = v
    return out


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_KEYS, st.binary(min_size=1, max_size=2), max_size=6), _OPS)
def test_branch_matches_dict_model(base: dict[bytes, bytes], ops: list) -> None:
    outer = Branch(MemoryReader(base))
    inner = outer.branch()
    layers: list[dict[bytes, bytes | None]] = [{}, {}]
    branches = [outer, inner]

    for op, level, key, value in ops:
        if op == "set":
            branches[level].set(key, value)
            layers[level][key] = value
        elif op == "delete":
            branches[level].delete(key)
            layers[level][key] = None
        else:
            inner.write()
            layers[0].update(layers[1])
            layers[1] = {}

        for depth, branch in enumerate(branches):
            model = _view(base, *layers[: depth + 1])
            for prefix in (b"", b"\x00", b"\x7f", b"\xfe", b"\x00\x7f"):
                expected = sorted((k, v) for k, v in model.items() if k.startswith(prefix))
                assert list(branch.iterate(prefix)) == expected
            for k in {*model, *base, key}:
                assert branch.get(k) == model.get(k)


def test_store_prefix_collisions_are_named() -> None:
    from app.app import MODULE_KEYS, STORE_PREFIXES, _find_collision

    assert _find_collision(STORE_PREFIXES) is None
    assert all(_find_collision(keys.TABLES) is None for keys in MODULE_KEYS.values())
    assert _find_collision({"a": b"\x01", "b": b"\x02", "c": b"\x01\x05"}) == "a and c"


def test_a_denom_with_a_trailing_newline_is_refused_by_every_check() -> None:
    from app.core.coins import DENOM_RE
    from app.core.query import InvalidQuery, parse_denom

    assert DENOM_RE.match("usyn") and not DENOM_RE.match("usyn\n")  # `$` matched before a newline
    with pytest.raises(SynodError):
        coins_from_proto([coin_pb2.Coin(denom="usyn\n", amount="5")], "fee")
    with pytest.raises(InvalidQuery, match="denom"):
        parse_denom("usyn\n")


def test_oversized_bls_inputs_are_refused_before_the_verdict_cache() -> None:
    from app.core import bls

    secret = bls.generate_key(b"\x01" * 32)
    pubkey, message = bls.public_key(secret), b"share"
    signature = bls.sign(secret, message)
    bls._verify.cache_clear()
    assert bls.is_valid_signature(pubkey, message, signature)
    huge = signature * 40_000  # a proposer's 3.8 MB "share"
    for _ in range(3):
        assert not bls.is_valid_signature(pubkey, message, huge)
        assert not bls.is_valid_signature(pubkey * 1000, message, signature)
    assert bls._verify.cache_info().currsize == 1  # only the well-sized verdict was remembered


def test_an_oversized_bls_message_is_refused_before_the_verdict_cache() -> None:
    from app.core import bls
    from app.modules.committee.beacon import compute_possession_message, compute_share_message

    secret = bls.generate_key(b"\x02" * 32)
    pubkey, message = bls.public_key(secret), b"m" * (4 << 20)  # a 4 MiB message
    signature = bls.sign(secret, message)  # even a valid signature of it
    bls._verify.cache_clear()
    assert not bls.is_valid_signature(pubkey, message, signature)
    assert bls._verify.cache_info().currsize == 0  # neither hashed nor remembered
    # Every message the chain verifies fits (CometBFT caps chain ids at 50 bytes).
    longest = max(
        compute_share_message("c" * 50, 2**64 - 1),
        compute_possession_message("c" * 50, KEY.address),
        key=len,
    )
    assert len(longest) <= bls.MAX_MESSAGE_LEN
    short = b"m" * bls.MAX_MESSAGE_LEN
    assert bls.is_valid_signature(pubkey, short, bls.sign(secret, short))


def test_a_block_time_before_1970_commits_and_reads_back() -> None:
    from app.state.backend import MemoryBackend
    from app.state.store import CommitStore

    backend = MemoryBackend()
    store = CommitStore(backend)
    block = store.branch()
    block.set(b"k", b"v")
    store.stage(block, 1, (-86_400, 5))
    store.commit()
    assert CommitStore(backend).time == (-86_400, 5)
