"""Bad input through CheckTx and FinalizeBlock: a registered code, and no state change beyond the fee."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from google.protobuf import any_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.client.txbuilder import pack_any
from app.core.coins import Coins
from app.core.crypto import PrivateKey, decode_address, encode_address, module_address
from app.core.errors import (
    ErrInsufficientFee,
    ErrInsufficientFunds,
    ErrInvalidAddress,
    ErrInvalidCoins,
    ErrInvalidGasLimit,
    ErrInvalidSequence,
    ErrMemoTooLarge,
    ErrorCode,
    ErrTxDecode,
    ErrTxTimeoutHeight,
    ErrTxTooLarge,
    ErrUnauthorized,
    ErrUnknownMessage,
    ErrUnknownRequest,
)
from app.core.tx import encode_tx, sign_bytes
from app.modules.auth import params as auth_params
from app.modules.auth.ante import FEE_COLLECTOR
from app.modules.bank.errors import ErrBlockedRecipient, ErrNoCoins
from synod.bank.v1 import tx_pb2 as bank_tx
from synod.base.v1 import coin_pb2
from synod.tx.v1 import tx_pb2
from tendermint.abci import types_pb2 as abci
from tests.integration import harness

DENOM = harness.DENOM
_MAX_GAS = auth_params.default_params().max_gas_per_tx
BALANCES = {"alice": 10**9, "bob": 10**9, "carol": 250_000, "dave": 100}
ALICE_KEY = harness.test_key("alice")
ALICE, BOB = ALICE_KEY.address, harness.test_key("bob").address
FEE_ADDR = module_address(FEE_COLLECTOR)


def _chain() -> harness.Chain:
    """Height 3: alice has used sequence 0 (so sequence 0 is stale), timeout height 1 has passed."""
    chain = harness.Chain()
    chain.init(BALANCES)
    resp = chain.block([chain.send("alice", BOB, 1, sequence=0)])
    assert resp.tx_results[0].code == 0, resp.tx_results[0].log
    return chain


def _sign(
    chain: harness.Chain,
    key: PrivateKey,
    messages: list[any_pb2.Any],
    *,
    sequence: int = 1,
    memo: str = "",
    timeout_height: int = 0,
    gas_limit: int = 200_000,
) -> bytes:
    """A tx with arbitrary Any messages, signed correctly by `key` for the test chain."""
    body = tx_pb2.TxBody(messages=messages, memo=memo, timeout_height=timeout_height)
    auth = tx_pb2.AuthInfo(
        public_key=key.public_key,
        sequence=sequence,
        fee=tx_pb2.Fee(amount=[coin_pb2.Coin(denom=DENOM, amount=str(gas_limit))], gas_limit=gas_limit),
    )
    body_bytes = body.SerializeToString(deterministic=True)
    auth_bytes = auth.SerializeToString(deterministic=True)
    account_number = chain.account_number("alice") if key == ALICE_KEY else 0
    signature = key.sign(sign_bytes(body_bytes, auth_bytes, harness.CHAIN_ID, account_number))
    return encode_tx(body_bytes, auth_bytes, signature)


def _send_msg(from_address: str = ALICE, to_address: str = BOB, amount: str = "5") -> any_pb2.Any:
    return pack_any(
        bank_tx.MsgSend(
            from_address=from_address,
            to_address=to_address,
            amount=[coin_pb2.Coin(denom=DENOM, amount=amount)],
        )
    )


def _flip_signature(raw: bytes) -> bytes:
    tx = tx_pb2.TxRaw.FromString(raw)
    sig = bytearray(tx.signature)
    sig[10] ^= 0x01
    return encode_tx(tx.body_bytes, tx.auth_info_bytes, bytes(sig))


@dataclass(frozen=True)
class Case:
    """A rejected tx, the error it must get, and whether its fee is still charged (message failure)."""

    build: Callable[[harness.Chain], bytes]
    error: ErrorCode
    fee_charged: bool = False


CASES = {
    "malformed-bytes": Case(lambda c: b"\x0a\x05\xff\xff", ErrTxDecode),
    "empty-bytes": Case(lambda c: b"", ErrTxDecode),
    "unknown-message-type": Case(
        lambda c: _sign(c, ALICE_KEY, [any_pb2.Any(type_url="/foo.Bar", value=b"")]), ErrUnknownMessage
    ),
    "wrong-chain-id": Case(
        lambda c: c.send("alice", BOB, 5, sequence=1, chain_id="other-chain"), ErrUnauthorized
    ),
    "wrong-account-number": Case(
        lambda c: c.send("alice", BOB, 5, sequence=1, account_number=77), ErrUnauthorized
    ),
    "bad-signature": Case(lambda c: _flip_signature(c.send("alice", BOB, 5, sequence=1)), ErrUnauthorized),
    "stale-sequence": Case(lambda c: c.send("alice", BOB, 5, sequence=0), ErrInvalidSequence),
    "future-sequence": Case(lambda c: c.send("alice", BOB, 5, sequence=2), ErrInvalidSequence),
    "insufficient-balance": Case(
        lambda c: c.send("carol", BOB, 10**6, sequence=0), ErrInsufficientFunds, True
    ),
    "send-to-module-account": Case(
        lambda c: c.send("alice", FEE_ADDR, 5, sequence=1), ErrBlockedRecipient, True
    ),
    "balance-below-fee": Case(lambda c: c.send("dave", BOB, 1, sequence=0), ErrInsufficientFunds),
    "unknown-signer-account": Case(
        lambda c: _sign(
            c,
            harness.test_key("nobody"),
            [_send_msg(from_address=harness.test_key("nobody").address)],
            sequence=0,
        ),
        ErrUnknownRequest,
    ),
    "insufficient-fee": Case(
        lambda c: c.send("alice", BOB, 5, sequence=1, fee=Coins.of([(DENOM, 199_999)])), ErrInsufficientFee
    ),
    "fee-in-wrong-denom": Case(
        lambda c: c.send("alice", BOB, 5, sequence=1, fee=Coins.of([("stake", 200_000)])), ErrInsufficientFee
    ),
    "oversize-tx": Case(lambda c: c.send("alice", BOB, 5, sequence=1, memo="x" * (1 << 20)), ErrTxTooLarge),
    "zero-amount": Case(lambda c: _sign(c, ALICE_KEY, [_send_msg(amount="0")]), ErrInvalidCoins),
    "negative-amount": Case(lambda c: _sign(c, ALICE_KEY, [_send_msg(amount="-5")]), ErrInvalidCoins),
    "leading-zero-amount": Case(lambda c: _sign(c, ALICE_KEY, [_send_msg(amount="05")]), ErrInvalidCoins),
    "decimal-amount": Case(lambda c: _sign(c, ALICE_KEY, [_send_msg(amount="1.5")]), ErrInvalidCoins),
    "no-amount": Case(
        lambda c: _sign(c, ALICE_KEY, [pack_any(bank_tx.MsgSend(from_address=ALICE, to_address=BOB))]),
        ErrNoCoins,
    ),
    "malformed-to-address": Case(
        lambda c: _sign(c, ALICE_KEY, [_send_msg(to_address="synod1notanaddress")]), ErrInvalidAddress
    ),
    "upper-case-to-address": Case(
        lambda c: _sign(c, ALICE_KEY, [_send_msg(to_address=BOB.upper())]), ErrInvalidAddress
    ),
    "signer-mismatch": Case(lambda c: _sign(c, ALICE_KEY, [_send_msg(from_address=BOB)]), ErrUnauthorized),
    "second-message-invalid": Case(
        lambda c: _sign(c, ALICE_KEY, [_send_msg(), _send_msg(to_address="synod1bad")]), ErrInvalidAddress
    ),
    "memo-too-long": Case(lambda c: c.send("alice", BOB, 5, sequence=1, memo="m" * 257), ErrMemoTooLarge),
    "timeout-height-passed": Case(
        lambda c: c.send("alice", BOB, 5, sequence=1, timeout_height=2), ErrTxTimeoutHeight
    ),
    "gas-above-max-per-tx": Case(
        lambda c: c.send(
            "alice", BOB, 5, sequence=1, gas_limit=_MAX_GAS + 1, fee=Coins.of([(DENOM, _MAX_GAS + 1)])
        ),
        ErrInvalidGasLimit,
    ),
    "zero-gas": Case(lambda c: _sign(c, ALICE_KEY, [_send_msg()], gas_limit=0), ErrInvalidGasLimit),
    # Found by tests/fuzz (target tx): CometBFT's gas_wanted is an int64, so a uint64 limit above it
    # made building the CheckTx answer raise, and the ABCI server stopped the node.
    "gas-above-int64": Case(
        lambda c: _sign(c, ALICE_KEY, [_send_msg()], gas_limit=2**63), ErrInvalidGasLimit
    ),
    "gas-max-uint64": Case(
        lambda c: _sign(c, ALICE_KEY, [_send_msg()], gas_limit=2**64 - 1), ErrInvalidGasLimit
    ),
    "message-inner-unknown-field": Case(
        lambda c: _sign(
            c,
            ALICE_KEY,
            [any_pb2.Any(type_url="/synod.bank.v1.MsgSend", value=_send_msg().value + b"\x78\x01")],
        ),
        ErrTxDecode,
    ),
    "unknown-field-appended-to-tx": Case(
        lambda c: c.send("alice", BOB, 5, sequence=1) + b"\x78\x01", ErrTxDecode
    ),
    # Amounts must be canonical ASCII decimal: str.isdigit() also admits these.
    "superscript-digit-amount": Case(
        lambda c: _sign(c, ALICE_KEY, [_send_msg(amount="\u00b2")]), ErrInvalidCoins
    ),
    "fullwidth-digit-amount": Case(
        lambda c: _sign(c, ALICE_KEY, [_send_msg(amount="\uff11\uff12")]), ErrInvalidCoins
    ),
    "5000-digit-amount": Case(lambda c: _sign(c, ALICE_KEY, [_send_msg(amount="9" * 5000)]), ErrInvalidCoins),
}


def _code(r: abci.ResponseCheckTx | abci.ExecTxResult) -> tuple[str, int]:
    return (r.codespace, r.code)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rejected_in_check_tx_with_registered_code(name: str) -> None:
    case = CASES[name]
    chain = _chain()
    raw = case.build(chain)

    r = chain.abci.check_tx(abci.RequestCheckTx(tx=raw))

    assert _code(r) == (case.error.codespace, case.error.code), r.log
    assert r.log


@pytest.mark.parametrize("name", sorted(CASES))
def test_rejected_in_finalize_block_without_state_change(name: str) -> None:
    case = CASES[name]
    chain = _chain()
    raw = case.build(chain)
    empty = chain.finalize([]).app_hash
    fee_before = chain.balance(FEE_ADDR)

    resp = chain.block([raw])

    assert len(resp.tx_results) == 1
    r = resp.tx_results[0]
    assert _code(r) == (case.error.codespace, case.error.code), r.log
    if case.fee_charged:
        # A message failure: the ante handler already took the fee and bumped the sequence.
        assert resp.app_hash != empty
        assert chain.balance(FEE_ADDR) == fee_before + 200_000
    else:
        assert resp.app_hash == empty
        assert chain.balance(FEE_ADDR) == fee_before


def _state(chain: harness.Chain) -> tuple[dict, dict]:
    """Committed balances by (address, denom) and accounts by address."""
    view = chain.app.store.view
    balances = {(a, d): n for a, d, n in chain.app.bank.iterate_balances(view)}
    accounts = {a.address: a.SerializeToString() for a in chain.app.auth.iterate_accounts(view)}
    return balances, accounts


def test_insufficient_balance_changes_only_fee_and_sequence() -> None:
    chain = _chain()
    carol = harness.test_key("carol").address
    balances_before, accounts_before = _state(chain)

    resp = chain.block([chain.send("carol", BOB, 10**6, sequence=0)])

    assert _code(resp.tx_results[0]) == (ErrInsufficientFunds.codespace, ErrInsufficientFunds.code)
    balances_after, accounts_after = _state(chain)
    changed = {
        k
        for k in balances_before.keys() | balances_after.keys()
        if balances_before.get(k) != balances_after.get(k)
    }
    assert {encode_address(a) for a, _ in changed} == {carol, FEE_ADDR}
    assert chain.balance(carol) == 250_000 - 200_000
    assert chain.balance(FEE_ADDR) == balances_before.get((decode_address(FEE_ADDR), DENOM), 0) + 200_000
    assert {
        a
        for a in accounts_before.keys() | accounts_after.keys()
        if accounts_before.get(a) != accounts_after.get(a)
    } == {carol}
    account = chain.app.auth.get_account(chain.app.store.view, decode_address(carol))
    assert account.sequence == 1


def test_multi_message_tx_is_atomic() -> None:
    chain = _chain()
    bob_before = chain.balance(BOB)
    raw = _sign(chain, ALICE_KEY, [_send_msg(amount="5"), _send_msg(amount=str(10**12))])

    resp = chain.block([raw])

    assert _code(resp.tx_results[0]) == (ErrInsufficientFunds.codespace, ErrInsufficientFunds.code)
    assert chain.balance(BOB) == bob_before
    assert chain.balance(ALICE) == 10**9 - 1 - 2 * 200_000
    assert chain.app.auth.get_account(chain.app.store.view, decode_address(ALICE)).sequence == 2


def test_check_tx_tracks_sequences_until_commit_resets_them() -> None:
    chain = _chain()
    first = chain.send("alice", BOB, 5, sequence=1)
    second = chain.send("alice", BOB, 5, sequence=2)

    def check(raw: bytes) -> tuple[str, int]:
        return _code(chain.abci.check_tx(abci.RequestCheckTx(tx=raw)))

    assert check(first) == ("", 0)
    assert check(first) == (ErrInvalidSequence.codespace, ErrInvalidSequence.code)
    assert check(second) == ("", 0)
    assert chain.app.info() == (2, chain.app.store.app_hash)
    chain.block([])  # neither tx included: Commit resets the check state to committed state
    assert check(second) == (ErrInvalidSequence.codespace, ErrInvalidSequence.code)
    assert check(first) == ("", 0)


def test_one_result_per_tx_and_bad_txs_do_not_disturb_good_ones() -> None:
    bad = [
        "malformed-bytes",
        "unknown-message-type",
        "wrong-chain-id",
        "bad-signature",
        "stale-sequence",
        "future-sequence",
        "balance-below-fee",
        "insufficient-fee",
        "zero-amount",
        "malformed-to-address",
        "signer-mismatch",
        "memo-too-long",
        "timeout-height-passed",
    ]
    chain = _chain()
    reference = _chain()
    expected = reference.block([reference.send("alice", BOB, 5, sequence=1)]).app_hash
    good = chain.send("alice", BOB, 5, sequence=1)
    txs = [CASES[n].build(chain) for n in bad] + [good]

    resp = chain.block(txs)

    assert len(resp.tx_results) == len(txs)
    assert [r.code for r in resp.tx_results[:-1]] == [CASES[n].error.code for n in bad]
    assert resp.tx_results[-1].code == 0, resp.tx_results[-1].log
    assert resp.app_hash == expected


# --- fuzz -----------------------------------------------------------------------------------------

_FUZZ: dict[str, object] = {}


def _fuzz_chain() -> tuple[harness.Chain, bytes]:
    """One chain for all fuzz examples, and a valid tx (alice, sequence 1) that is never committed."""
    if not _FUZZ:
        chain = _chain()
        _FUZZ["chain"] = chain
        _FUZZ["valid"] = chain.send("alice", BOB, 5, sequence=1)
    return _FUZZ["chain"], _FUZZ["valid"]  # type: ignore[return-value]


def _mutations() -> st.SearchStrategy[bytes]:
    _, valid = _fuzz_chain()
    flip = st.tuples(st.integers(0, len(valid) - 1), st.integers(1, 255)).map(
        lambda t: valid[: t[0]] + bytes([valid[t[0]] ^ t[1]]) + valid[t[0] + 1 :]
    )
    truncate = st.integers(0, len(valid) - 1).map(lambda n: valid[:n])
    drop = st.integers(0, len(valid) - 1).map(lambda i: valid[:i] + valid[i + 1 :])
    return st.one_of(st.binary(max_size=400), flip, truncate, drop)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzzed_txs_never_raise_and_never_change_state_when_rejected(data: st.DataObject) -> None:
    chain, valid = _fuzz_chain()
    raw = data.draw(_mutations())
    empty = chain.finalize([]).app_hash

    executed = chain.finalize([raw])
    checked = chain.abci.check_tx(abci.RequestCheckTx(tx=raw))

    assert len(executed.tx_results) == 1
    if executed.tx_results[0].code != 0:
        assert executed.app_hash == empty
    if checked.code != 0:
        # The check state kept alice's sequence and balance: the valid tx still passes CheckTx.
        assert chain.abci.check_tx(abci.RequestCheckTx(tx=valid)).code == 0
    chain.block([])  # Commit resets the check state for the next example
