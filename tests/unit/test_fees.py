"""Fees and gas through the ABCI handlers: fee = gas limit x min gas price, charged even on failure."""

from __future__ import annotations

import json

from app.core.coins import Coins
from app.core.context import BlockInfo, Context
from app.core.crypto import decode_address, module_address
from app.core.errors import ErrInsufficientFee, ErrInsufficientFunds, ErrOutOfGas
from app.core.gas import DEFAULT_GAS_CONFIG, INFINITE_GAS, GasMeter
from app.core.tx import decode_tx
from app.modules.auth.ante import FEE_COLLECTOR, run_ante
from app.state.kv import GasKV
from tendermint.abci import types_pb2 as abci
from tests.integration import harness

DENOM = harness.DENOM
FEE_ADDR = module_address(FEE_COLLECTOR)
BOB = harness.test_key("bob").address


def _chain(min_gas_price: int | None = None, **balances: int) -> harness.Chain:
    """A chain at height 1 with funded test keys (and optionally a custom min gas price)."""
    chain = harness.Chain()
    if min_gas_price is None:
        chain.init(balances)
        return chain
    state = json.loads(harness.genesis_app_state(balances))
    state["auth"] = {"params": {"min_gas_price": str(min_gas_price)}}
    chain.abci.init_chain(
        abci.RequestInitChain(
            chain_id=harness.CHAIN_ID, app_state_bytes=json.dumps(state).encode(), initial_height=1
        )
    )
    chain.block([])
    return chain


def _sequence(chain: harness.Chain, name: str) -> int:
    acc = chain.app.auth.get_account(chain.app.store.view, decode_address(harness.test_key(name).address))
    assert acc is not None
    return acc.sequence


def _fee(amount: int) -> Coins:
    return Coins.of([(DENOM, amount)])


def test_successful_send_pays_fee_to_fee_collector() -> None:
    chain = _chain(alice=10**9, bob=10**9)

    resp = chain.block([chain.send("alice", BOB, 5, gas_limit=150_000, fee=_fee(150_000))])

    assert resp.tx_results[0].code == 0, resp.tx_results[0].log
    assert chain.balance(harness.test_key("alice").address) == 10**9 - 5 - 150_000
    assert chain.balance(BOB) == 10**9 + 5
    assert chain.balance(FEE_ADDR) == 150_000
    assert _sequence(chain, "alice") == 1


def test_fee_scales_with_min_gas_price() -> None:
    chain = _chain(min_gas_price=3, alice=10**9)
    below = chain.send("alice", BOB, 5, sequence=0, gas_limit=100_000, fee=_fee(299_999))
    exact = chain.send("alice", BOB, 5, sequence=0, gas_limit=100_000, fee=_fee(300_000))

    resp = chain.block([below, exact])

    assert resp.tx_results[0].code == ErrInsufficientFee.code
    assert resp.tx_results[1].code == 0, resp.tx_results[1].log
    assert chain.balance(FEE_ADDR) == 300_000
    assert chain.balance(harness.test_key("alice").address) == 10**9 - 5 - 300_000


def test_offered_fee_above_minimum_is_charged_in_full() -> None:
    chain = _chain(alice=10**9)

    resp = chain.block([chain.send("alice", BOB, 1, gas_limit=100_000, fee=_fee(250_000))])

    assert resp.tx_results[0].code == 0
    assert chain.balance(FEE_ADDR) == 250_000


def test_failed_message_still_pays_fee_and_bumps_sequence() -> None:
    chain = _chain(alice=10**9, carol=300_000)
    carol = harness.test_key("carol").address

    resp = chain.block([chain.send("carol", BOB, 1_000_000)])

    result = resp.tx_results[0]
    assert (result.codespace, result.code) == (ErrInsufficientFunds.codespace, ErrInsufficientFunds.code)
    assert chain.balance(carol) == 300_000 - 200_000
    assert chain.balance(FEE_ADDR) == 200_000
    assert chain.balance(BOB) == 0
    assert _sequence(chain, "carol") == 1
    assert 0 < result.gas_used <= result.gas_wanted == 200_000


def test_fee_below_minimum_rejected_and_changes_nothing() -> None:
    chain = _chain(alice=10**9)
    empty_hash = chain.finalize([]).app_hash
    cheap = chain.send("alice", BOB, 5, sequence=0, gas_limit=200_000, fee=_fee(199_999))
    wrong_denom = chain.send("alice", BOB, 5, sequence=0, fee=Coins.of([("stake", 200_000)]))

    checked = chain.abci.check_tx(abci.RequestCheckTx(tx=cheap))
    resp = chain.block([cheap, wrong_denom])

    for r in (checked, *resp.tx_results):
        assert (r.codespace, r.code) == ("sdk", ErrInsufficientFee.code) == ("sdk", 13), r.log
    assert "raise --fees" in checked.log
    assert resp.app_hash == empty_hash
    assert chain.balance(FEE_ADDR) == 0
    assert _sequence(chain, "alice") == 0


def test_out_of_gas_in_ante_changes_nothing() -> None:
    chain = _chain(alice=10**9)
    empty_hash = chain.finalize([]).app_hash
    tx = chain.send("alice", BOB, 5, sequence=0, gas_limit=1_000, fee=_fee(1_000))

    checked = chain.abci.check_tx(abci.RequestCheckTx(tx=tx))
    resp = chain.block([tx])

    for r in (checked, resp.tx_results[0]):
        assert (r.codespace, r.code) == ("sdk", ErrOutOfGas.code) == ("sdk", 11), r.log
        assert r.gas_used == r.gas_wanted == 1_000
    assert resp.app_hash == empty_hash
    assert _sequence(chain, "alice") == 0
    assert chain.balance(FEE_ADDR) == 0


def _ante_gas(chain: harness.Chain, raw: bytes) -> int:
    """Gas the ante handler alone uses for `raw` on the committed state."""
    meter = GasMeter(INFINITE_GAS)
    branch = chain.app.store.branch()
    block = BlockInfo(harness.CHAIN_ID, chain.app.store.height + 1)
    ctx = Context(GasKV(branch, meter, DEFAULT_GAS_CONFIG), block, meter)
    run_ante(ctx, decode_tx(raw), chain.app.auth, chain.app.bank)
    return meter.consumed


def test_out_of_gas_in_messages_pays_fee() -> None:
    chain = _chain(alice=10**9)

    def tx(gas: int) -> bytes:
        return chain.send("alice", BOB, 5, sequence=0, gas_limit=gas, fee=_fee(gas))

    # Find a gas limit that covers the ante handler but not the send (the tx size depends on it).
    gas = 50_000
    for _ in range(5):
        ante = _ante_gas(chain, tx(gas))
        if ante <= gas < ante + 500:
            break
        gas = ante + 1
    else:
        raise AssertionError("no gas limit between ante and message cost found")

    resp = chain.block([tx(gas)])

    result = resp.tx_results[0]
    assert (result.codespace, result.code) == ("sdk", ErrOutOfGas.code), result.log
    assert result.gas_used == result.gas_wanted == gas
    assert chain.balance(FEE_ADDR) == gas
    assert chain.balance(BOB) == 0
    assert chain.balance(harness.test_key("alice").address) == 10**9 - gas
    assert _sequence(chain, "alice") == 1


def test_gas_used_reported_and_grows_with_memo() -> None:
    chain = _chain(alice=10**9)
    txs = [chain.send("alice", BOB, 5, sequence=0, memo="m" * n) for n in (0, 100, 250)]

    results = [chain.finalize([raw]).tx_results[0] for raw in txs]

    assert all(r.code == 0 for r in results), [r.log for r in results]
    used = [r.gas_used for r in results]
    assert all(0 < u <= r.gas_wanted == 200_000 for u, r in zip(used, results, strict=True))
    assert used[0] < used[1] < used[2]
    # Only the size charge differs: tx_size_cost_per_byte (10) per extra byte.
    assert used[1] - used[0] == 10 * (len(txs[1]) - len(txs[0]))


def test_check_tx_reports_gas_wanted_and_used() -> None:
    chain = _chain(alice=10**9)

    r = chain.abci.check_tx(abci.RequestCheckTx(tx=chain.send("alice", BOB, 5, gas_limit=123_456)))

    assert r.code == 0, r.log
    assert r.gas_wanted == 123_456
    assert 0 < r.gas_used <= 123_456
