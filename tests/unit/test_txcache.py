"""The node-local memos: bounded LRU, decoded txs, signature verdicts, recheck memo, recording branch."""

from __future__ import annotations

import hashlib

from app.app import SynodApp
from app.client.txbuilder import build_tx, msg_send
from app.core.codec import encode_amount
from app.core.coins import Coins
from app.core.context import Context
from app.core.crypto import PrivateKey, decode_address
from app.core.gas import INFINITE_GAS, GasMeter
from app.core.recheck import RecheckMemo
from app.core.tx import compute_tx_hash, decode_tx
from app.core.txcache import BoundedLRU, DecodedCache, SignatureVerdicts
from app.modules.auth.keeper import AuthKeeper
from app.modules.bank import msg_server as bank_msgs
from app.modules.bank.keeper import BankKeeper
from app.state.backend import MemoryBackend
from app.state.kv import Branch, MemoryReader, RecordingBranch
from synod.bank.v1 import tx_pb2 as bank_tx

KEY = PrivateKey.from_seed(hashlib.sha256(b"txcache").digest())
OTHER = PrivateKey.from_seed(hashlib.sha256(b"txcache-other").digest()).address
ROUTE = bank_msgs.routes(BankKeeper(AuthKeeper(), ()))[0]


def _tx(amount: int = 5, memo: str = "") -> bytes:
    return build_tx(
        KEY,
        [msg_send(KEY.address, OTHER, Coins.of([("usyn", amount)]))],
        chain_id="c",
        account_number=3,
        sequence=0,
        fee=Coins.of([("usyn", 1000)]),
        memo=memo,
    )


def _flip_bit(raw: bytes, index: int) -> bytes:
    return raw[:index] + bytes([raw[index] ^ 1]) + raw[index + 1 :]


def _decoded_cache_with(raw: bytes) -> DecodedCache:
    cache = DecodedCache()
    tx = decode_tx(raw)
    cache.put(tx, [(ROUTE, bank_tx.MsgSend.FromString(a.value)) for a in tx.body.messages])
    return cache


def test_lru_bounds_entries_and_bytes_and_drops_least_recent() -> None:
    lru: BoundedLRU[str, int] = BoundedLRU(max_entries=3, max_bytes=100)
    for i, k in enumerate("abc"):
        lru.put(k, i, 10)
    assert lru.get("a") == 0  # a is now the most recent
    lru.put("d", 3, 10)
    assert "b" not in lru and len(lru) == 3
    lru.put("e", 4, 85)  # 115 bytes: the least recent (c, then a) go until it fits
    assert [k for k in "acde" if k in lru] == ["d", "e"] and lru.nbytes == 95
    lru.put("huge", 5, 101)  # larger than the whole bound: never kept
    assert "huge" not in lru and lru.nbytes == 95
    lru.pop("e")
    lru.pop("d")
    assert len(lru) == 0 and lru.nbytes == 0


def test_decoded_cache_never_serves_bytes_one_bit_apart() -> None:
    raw = _tx()
    cache = _decoded_cache_with(raw)
    assert cache.get(compute_tx_hash(raw), raw) is not None
    for i in range(len(raw)):
        flipped = _flip_bit(raw, i)
        assert cache.get(compute_tx_hash(flipped), flipped) is None


def test_decoded_cache_hands_out_fresh_messages() -> None:
    raw = _tx()
    cache = _decoded_cache_with(raw)
    got = cache.get(compute_tx_hash(raw), raw)
    assert got is not None
    tx, msgs = got
    tx.body.memo = "mutated"
    tx.auth_info.sequence = 99
    msgs[0][1].to_address = "mutated"
    again = cache.get(compute_tx_hash(raw), raw)
    assert again is not None
    fresh, fresh_msgs = again
    assert fresh.body.memo == "" and fresh.auth_info.sequence == 0
    assert fresh_msgs[0][1].to_address == OTHER
    # Equal to what the strict decoder gives.
    strict = decode_tx(raw)
    assert (fresh.body, fresh.auth_info, fresh.signer, fresh.fee, fresh.hash) == (
        strict.body,
        strict.auth_info,
        strict.signer,
        strict.fee,
        strict.hash,
    )


def test_decoded_cache_is_bounded_in_bytes() -> None:
    cache = DecodedCache(max_entries=100, max_bytes=4 * len(_tx()) + 1024)
    raws = [_tx(amount=i + 1) for i in range(10)]
    for raw in raws:
        tx = decode_tx(raw)
        cache.put(tx, [(ROUTE, bank_tx.MsgSend.FromString(a.value)) for a in tx.body.messages])
    assert 0 < len(cache) < 10
    assert cache.get(compute_tx_hash(raws[-1]), raws[-1]) is not None
    assert cache.get(compute_tx_hash(raws[0]), raws[0]) is None


def test_signature_verdicts_are_keyed_by_full_hash_chain_and_account_number() -> None:
    raw = _tx()
    h = compute_tx_hash(raw)
    verdicts = SignatureVerdicts()
    verdicts.add(h, "c", 3)
    assert verdicts.is_verified(h, "c", 3)
    assert not verdicts.is_verified(h, "c", 4)  # another account number: other sign bytes
    assert not verdicts.is_verified(h, "other", 3)
    assert not any(verdicts.is_verified(compute_tx_hash(_flip_bit(raw, i)), "c", 3) for i in range(len(raw)))
    verdicts.discard(h, "c", 3)
    assert not verdicts.is_verified(h, "c", 3)


def test_signature_verdicts_are_bounded() -> None:
    verdicts = SignatureVerdicts(max_entries=4)
    for i in range(10):
        verdicts.add(bytes([i]) * 32, "c", 0)
    assert len(verdicts) == 4 and verdicts.is_verified(bytes([9]) * 32, "c", 0)


def test_recording_branch_records_first_parent_reads_only() -> None:
    parent = Branch(MemoryReader({b"a": b"1", b"b": b"2"}))
    rec = RecordingBranch(parent)
    rec.set(b"b", b"3")
    assert (rec.get(b"a"), rec.get(b"b"), rec.get(b"z")) == (b"1", b"3", None)
    assert rec.reads == {b"a": b"1", b"z": None} and not rec.iterated
    assert list(rec.iterate(b"")) == [(b"a", b"1"), (b"b", b"3")]
    assert rec.iterated
    rec.write()
    assert parent.writes == {b"b": b"3"}


def _memo_state() -> Branch:
    return Branch(MemoryReader({b"acct": b"seq0", b"fee/usyn": encode_amount(1000)}))


def _record(memo: RecheckMemo[str], timeout_height: int = 0) -> None:
    reads = {b"acct": b"seq0", b"fee/usyn": encode_amount(1000), b"new": None}
    writes = {b"acct": b"seq1", b"fee/usyn": encode_amount(1010), b"gone": None}
    memo.record(b"h", reads, writes, b"fee/", timeout_height, "ok")


def test_recheck_memo_replays_writes_and_credits_onto_the_current_accumulator() -> None:
    memo: RecheckMemo[str] = RecheckMemo()
    _record(memo)
    state = _memo_state()
    state.set(b"fee/usyn", encode_amount(2000))  # other txs paid fees since: still a hit
    assert memo.replay(b"h", state, height=5) == "ok"
    assert state.writes == {b"acct": b"seq1", b"fee/usyn": encode_amount(2010), b"gone": None}


def test_recheck_memo_misses_when_a_read_value_changed() -> None:
    memo: RecheckMemo[str] = RecheckMemo()
    _record(memo)
    for key, value in [(b"acct", b"seq1"), (b"new", b"now here")]:
        state = _memo_state()
        state.set(key, value)
        before = dict(state.writes)
        assert memo.replay(b"h", state, height=5) is None
        assert state.writes == before  # a miss writes nothing


def test_recheck_memo_misses_when_gas_would_differ_or_timeout_passed() -> None:
    memo: RecheckMemo[str] = RecheckMemo()
    _record(memo, timeout_height=7)
    state = _memo_state()
    state.set(b"fee/usyn", encode_amount(1 << 16))  # one byte longer: reading it costs more gas
    assert memo.replay(b"h", state, height=5) is None
    assert memo.replay(b"h", _memo_state(), height=8) is None  # past the tx's timeout height
    assert memo.replay(b"h", _memo_state(), height=7) == "ok"


def test_recheck_memo_refuses_an_accumulator_that_was_not_only_credited() -> None:
    memo: RecheckMemo[str] = RecheckMemo()
    reads = {b"fee/usyn": encode_amount(1000)}
    memo.record(b"debit", reads, {b"fee/usyn": encode_amount(900)}, b"fee/", 0, "ok")
    memo.record(b"blind", {}, {b"fee/usyn": encode_amount(900)}, b"fee/", 0, "ok")
    assert len(memo) == 0


class _NoClock:
    """A block that has only a chain id: reading its height or time fails the test."""

    chain_id = "c"

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the handler read ctx.block.{name}")


def test_routes_promising_not_to_read_block_time_do_not() -> None:
    app = SynodApp(MemoryBackend())
    promising = sorted(url for url, r in app.routes.items() if not r.reads_block_time)
    assert promising == ["/synod.bank.v1.MsgSend"]  # each one needs a sample message here
    samples = {"/synod.bank.v1.MsgSend": msg_send(KEY.address, OTHER, Coins.of([("usyn", 5)]))}
    for url in promising:
        store = Branch(MemoryReader())
        app.bank.set_balance(store, decode_address(KEY.address), "usyn", 100)
        ctx = Context(store, _NoClock(), GasMeter(INFINITE_GAS))  # type: ignore[arg-type]
        app.routes[url].handle(ctx, samples[url])
        assert app.bank.get_balance(store, decode_address(OTHER), "usyn") == 5
