"""The node-local memos through the ABCI handlers: a warm node and a cold one agree on every block,
bytes one bit apart are never served a verdict, and RECHECK still evicts what became invalid."""

from __future__ import annotations

from app.app import TxResult
from app.core.codec import from_u64be
from app.core.coins import Coins
from app.core.errors import ErrInsufficientFunds, ErrInvalidSequence, ErrUnauthorized
from app.core.tx import compute_tx_hash
from app.modules.auth import keys as auth_keys
from tendermint.abci import types_pb2 as abci
from tests.integration import harness

BALANCES = {"alice": 10**9, "bob": 5 * 10**8, "carol": 1_000_000}
ALICE, BOB, CAROL, DAVE, ERIN = (
    harness.test_key(n).address for n in ("alice", "bob", "carol", "dave", "erin")
)
FEE = Coins.of([(harness.DENOM, 200_000)])


def _check(chain: harness.Chain, raw: bytes, recheck: bool = False) -> abci.ResponseCheckTx:
    kind = abci.RECHECK if recheck else abci.NEW
    return chain.abci.check_tx(abci.RequestCheckTx(tx=raw, type=kind))


def _flip_bit(raw: bytes, index: int) -> bytes:
    return raw[:index] + bytes([raw[index] ^ 1]) + raw[index + 1 :]


def _blocks(builder: harness.Chain) -> list[list[bytes]]:
    """Blocks 2.. of valid and invalid txs, including one whose account number differs between the
    check state (where it verified) and the block."""
    send = builder.send
    raw_next = builder.app.store.view.get(auth_keys.STORE_PREFIX + auth_keys.NEXT_ACCOUNT_NUMBER)
    assert raw_next is not None
    # The first fee paid creates the fee collector's account; the first block creates no other.
    number = from_u64be(raw_next) + 1
    valid = send("alice", BOB, 100, sequence=0)
    # In the check state dave is created first (account number `number`), erin second; the block
    # creates erin first, so dave's tx, signed for `number`, verifies in CheckTx but not in the block.
    fund_dave = send("carol", DAVE, 400_000, sequence=0)
    fund_erin = send("bob", ERIN, 10, sequence=0)
    dave_tx = builder.send("dave", ALICE, 1, sequence=0, account_number=number)
    return [
        [valid, send("bob", CAROL, 50, sequence=1), _flip_bit(valid, len(valid) - 1)],
        [fund_erin, fund_dave, dave_tx, send("alice", DAVE, 7, sequence=1, chain_id="other-chain")],
        [send("carol", ALICE, 10, sequence=1), send("alice", BOB, 3, sequence=1), b"\x0a\x03junk"],
    ]


def _check_order(blocks: list[list[bytes]]) -> list[bytes]:
    """The order the warm node's mempool saw them: dave funded before erin."""
    txs = [t for block in blocks for t in block]
    return sorted(txs, key=lambda t: t != blocks[1][1])


def _results(resp: abci.ResponseFinalizeBlock) -> list[tuple[int, str, int, int]]:
    return [(r.code, r.codespace, r.gas_wanted, r.gas_used) for r in resp.tx_results]


def test_finalize_block_is_the_same_with_memos_warm_or_cold() -> None:
    warm, cold = harness.Chain(), harness.Chain()
    assert warm.init(BALANCES) == cold.init(BALANCES)
    blocks = _blocks(warm)
    codes = {raw: _check(warm, raw).code for raw in _check_order(blocks)}
    assert codes[blocks[1][2]] == 0  # dave's tx verified in the check state
    assert len(warm.app.decoded) and len(warm.app.verdicts)
    assert not len(cold.app.decoded) and not len(cold.app.verdicts)
    for txs in blocks:
        w, c = warm.block(txs), cold.block(txs)
        assert w.app_hash == c.app_hash
        assert _results(w) == _results(c)
        assert [r.log for r in w.tx_results] == [r.log for r in c.tx_results]
    dave = blocks[1][2]
    assert warm.app.decoded.get(compute_tx_hash(dave), dave) is None  # forgotten once in a block
    assert len(warm.app.decoded) == 0 and len(warm.app.rechecks) == 0


def test_account_number_change_fails_the_block_tx_on_a_warm_node() -> None:
    warm = harness.Chain()
    warm.init(BALANCES)
    blocks = _blocks(warm)
    fund_erin, fund_dave, dave_tx, _ = blocks[1]
    warm.block(blocks[0])
    for raw in (fund_dave, fund_erin, dave_tx):
        assert _check(warm, raw).code == 0  # in the check state dave has the number dave_tx signed
    resp = warm.block(blocks[1])
    assert resp.tx_results[2].code == ErrUnauthorized.code  # in the block he has another


def test_bytes_one_bit_apart_are_never_served_the_verdict() -> None:
    chain = harness.Chain()
    chain.init(BALANCES)
    raw = chain.send("alice", BOB, 100, sequence=0)
    assert _check(chain, raw).code == 0
    chain.block([])  # the check state is reset (alice's sequence 0 again); the memos stay
    signature_start = len(raw) - 64  # TxRaw ends with the 64-byte signature field
    for i in range(signature_start, len(raw)):
        assert _check(chain, _flip_bit(raw, i)).code == ErrUnauthorized.code
    for i in (0, 10, signature_start - 1):
        assert _check(chain, _flip_bit(raw, i)).code != 0
    resp = chain.block([_flip_bit(raw, len(raw) - 1), raw])
    assert [r.code for r in resp.tx_results] == [ErrUnauthorized.code, 0]


def test_recheck_evicts_a_tx_whose_sequence_was_used() -> None:
    chain = harness.Chain()
    chain.init(BALANCES)
    pending = chain.send("alice", BOB, 100, sequence=0)
    other = chain.send("alice", CAROL, 5, sequence=0)  # same sequence, other bytes
    assert _check(chain, pending).code == 0
    assert len(chain.app.rechecks) == 1
    chain.block([other])
    r = _check(chain, pending, recheck=True)
    assert r.code == ErrInvalidSequence.code, r.log
    assert len(chain.app.rechecks) == 0


def test_recheck_evicts_a_tx_whose_fee_can_no_longer_be_paid() -> None:
    chain = harness.Chain()
    chain.init(BALANCES)
    first = chain.send("carol", BOB, 10, sequence=0, fee=FEE)
    second = chain.send("carol", BOB, 10, sequence=1, fee=FEE)
    drain = chain.send("carol", BOB, 1_000_000 - 200_000 - 100_000, sequence=0, fee=FEE)
    assert _check(chain, first).code == 0 and _check(chain, second).code == 0
    chain.block([drain])  # carol's sequence 0 is used, and she has 100000 left: not a fee
    assert _check(chain, first, recheck=True).code == ErrInvalidSequence.code
    assert _check(chain, second, recheck=True).code == ErrInsufficientFunds.code


def _recheck_all(chain: harness.Chain, txs: list[bytes]) -> list[TxResult]:
    return [chain.app.check_tx(t, recheck=True) for t in txs]


def _spy_replays(chain: harness.Chain) -> list[bool]:
    """Record, per RECHECK, whether the memo answered it."""
    hits: list[bool] = []
    replay = chain.app.rechecks.replay

    def spy(*args: object) -> object:
        result = replay(*args)  # type: ignore[arg-type]
        hits.append(result is not None)
        return result

    chain.app.rechecks.replay = spy  # type: ignore[method-assign]
    return hits


def test_recheck_from_the_memo_equals_a_full_recheck() -> None:
    memo, full = harness.Chain(), harness.Chain()
    for chain in (memo, full):
        chain.init(BALANCES)
    send = memo.send
    # Kept in the mempool: chained txs of one sender, and a tx whose recipient the block pays.
    pending = [
        send("alice", DAVE, 100, sequence=0),
        send("alice", DAVE, 100, sequence=1),
        send("bob", ERIN, 5, sequence=0),
        send("carol", ALICE, 5, sequence=0),
    ]
    block = [send("bob", CAROL, 1, sequence=0)]  # bob's sequence 0 is used, carol's balance moves
    hits = _spy_replays(memo)
    for chain in (memo, full):
        for raw in pending:
            assert chain.app.check_tx(raw).code == 0
    for txs in ([], block):
        for chain in (memo, full):
            chain.block(txs)
        full.app.rechecks = type(full.app.rechecks)()  # full: every recheck runs the whole check
        hits.clear()
        got, want = _recheck_all(memo, pending), _recheck_all(full, pending)
        assert got == want
        assert memo.app._check_state.writes == full.app._check_state.writes
    assert [r.code for r in got] == [0, 0, ErrInvalidSequence.code, 0]
    # alice's first: the fee collector's balance went from absent to 3 bytes, so reading it costs
    # more gas; bob's: his account changed; carol's: her balance did.
    assert hits == [False, True, False, False]
