"""bank keeper on an in-memory branch: sends, escrows, mint/burn and the supply invariant."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.coins import Coins
from app.core.crypto import decode_address, module_address
from app.core.errors import ErrInsufficientFunds, SynodError
from app.modules.auth.keeper import AuthKeeper
from app.modules.bank.errors import ErrUnknownModule
from app.modules.bank.invariants import check_supply
from app.modules.bank.keeper import BankKeeper
from app.state.kv import Branch, MemoryReader

MODULES = ("escrow", "fee_collector")
ALICE, BOB, CAROL = (hashlib.sha256(n).digest()[:20] for n in (b"alice", b"bob", b"carol"))


def _coins(**amounts: int) -> Coins:
    return Coins.of(amounts.items())


def _setup(**funded: Coins) -> tuple[Branch, AuthKeeper, BankKeeper]:
    """A store where each named account got its coins minted through the escrow module."""
    auth = AuthKeeper()
    bank = BankKeeper(auth, MODULES)
    store = Branch(MemoryReader())
    for name, coins in funded.items():
        bank.mint_coins(store, "escrow", coins)
        bank.send_coins_from_module_to_account(store, "escrow", {"alice": ALICE, "bob": BOB}[name], coins)
    return store, auth, bank


def _raises_code(excinfo: pytest.ExceptionInfo, codespace: str, code: int) -> None:
    assert (excinfo.value.codespace, excinfo.value.code) == (codespace, code), str(excinfo.value)


def test_send_moves_coins_and_creates_recipient_account() -> None:
    store, auth, bank = _setup(alice=_coins(usyn=100, stake=7))
    assert auth.get_account(store, CAROL) is None
    alice_number = auth.get_account(store, ALICE).account_number

    bank.send_coins(store, ALICE, CAROL, _coins(usyn=30, stake=7))

    assert bank.get_all_balances(store, ALICE) == _coins(usyn=70)
    assert bank.get_all_balances(store, CAROL) == _coins(usyn=30, stake=7)
    carol = auth.get_account(store, CAROL)
    assert carol is not None
    assert carol.account_number > alice_number
    assert decode_address(carol.address) == CAROL
    assert bank.get_supply(store, "usyn") == 100
    check_supply(store, bank)


def test_send_to_existing_account_keeps_its_number() -> None:
    store, auth, bank = _setup(alice=_coins(usyn=10), bob=_coins(usyn=1))
    bob_number = auth.get_account(store, BOB).account_number

    bank.send_coins(store, ALICE, BOB, _coins(usyn=10))

    assert auth.get_account(store, BOB).account_number == bob_number
    assert bank.get_balance(store, BOB, "usyn") == 11


def test_emptied_balance_leaves_no_key() -> None:
    store, _, bank = _setup(alice=_coins(usyn=10))

    bank.send_coins(store, ALICE, BOB, _coins(usyn=10))

    assert bank.get_balance(store, ALICE, "usyn") == 0
    assert [a for a, _, _ in bank.iterate_balances(store)] == [BOB]
    check_supply(store, bank)


def test_insufficient_funds_on_discarded_branch_changes_nothing() -> None:
    store, auth, bank = _setup(alice=_coins(usyn=100, stake=1))
    before = dict(store.writes)
    tx = store.branch()

    # usyn (sorted after stake) fails after stake was already debited on the branch.
    with pytest.raises(SynodError) as excinfo:
        bank.send_coins(tx, ALICE, CAROL, _coins(stake=1, usyn=101))

    _raises_code(excinfo, ErrInsufficientFunds.codespace, ErrInsufficientFunds.code)
    assert bank.get_balance(tx, ALICE, "stake") == 0
    del tx
    assert store.writes == before
    assert bank.get_all_balances(store, ALICE) == _coins(usyn=100, stake=1)
    assert auth.get_account(store, CAROL) is None
    check_supply(store, bank)


def test_escrow_to_module_and_back() -> None:
    store, _, bank = _setup(alice=_coins(usyn=50))
    escrow = decode_address(module_address("escrow"))
    assert bank.module_account("escrow") == escrow

    bank.send_coins_from_account_to_module(store, ALICE, "escrow", _coins(usyn=20))
    assert bank.get_balance(store, escrow, "usyn") == 20
    assert bank.get_balance(store, ALICE, "usyn") == 30
    bank.send_coins_from_module_to_account(store, "escrow", BOB, _coins(usyn=15))

    assert bank.get_balance(store, escrow, "usyn") == 5
    assert bank.get_balance(store, BOB, "usyn") == 15
    assert bank.get_supply(store, "usyn") == 50
    check_supply(store, bank)


def test_module_cannot_release_more_than_escrowed() -> None:
    store, _, bank = _setup(alice=_coins(usyn=50))
    bank.send_coins_from_account_to_module(store, ALICE, "escrow", _coins(usyn=5))

    with pytest.raises(SynodError) as excinfo:
        bank.send_coins_from_module_to_account(store.branch(), "escrow", BOB, _coins(usyn=6))

    _raises_code(excinfo, ErrInsufficientFunds.codespace, ErrInsufficientFunds.code)


def test_unknown_module_account_rejected() -> None:
    store, _, bank = _setup(alice=_coins(usyn=50))

    with pytest.raises(SynodError) as excinfo:
        bank.send_coins_from_account_to_module(store, ALICE, "nobody", _coins(usyn=1))

    _raises_code(excinfo, ErrUnknownModule.codespace, ErrUnknownModule.code)
    assert bank.get_balance(store, ALICE, "usyn") == 50


def test_mint_and_burn_change_supply() -> None:
    store, _, bank = _setup()

    bank.mint_coins(store, "escrow", _coins(usyn=4000, stake=2))
    bank.burn_coins(store, "escrow", _coins(usyn=1500, stake=2))

    assert dict(bank.iterate_supply(store)) == {"usyn": 2500}
    assert bank.get_balance(store, bank.module_account("escrow"), "usyn") == 2500
    check_supply(store, bank)


def test_burn_more_than_held_fails_and_keeps_supply() -> None:
    store, _, bank = _setup()
    bank.mint_coins(store, "escrow", _coins(usyn=10))
    tx = store.branch()

    with pytest.raises(SynodError) as excinfo:
        bank.burn_coins(tx, "escrow", _coins(usyn=11))

    _raises_code(excinfo, ErrInsufficientFunds.codespace, ErrInsufficientFunds.code)
    assert bank.get_supply(store, "usyn") == 10


def test_check_supply_detects_unbacked_balance() -> None:
    store, _, bank = _setup(alice=_coins(usyn=10))

    bank.set_balance(store, BOB, "usyn", 1)

    with pytest.raises(AssertionError, match="supply"):
        check_supply(store, bank)


def test_check_supply_detects_supply_without_balance() -> None:
    store, _, bank = _setup(alice=_coins(usyn=10))

    bank.set_supply(store, "ghost", 3)

    with pytest.raises(AssertionError):
        check_supply(store, bank)


_HOLDERS = [ALICE, BOB, CAROL]
_DENOMS = ["stake", "usyn"]
# A fixed amount, or all / half of what the source holds (so large burns and sends succeed often).
_AMOUNT = st.one_of(st.integers(min_value=1, max_value=1000), st.sampled_from(["all", "half"]))
_OP = st.one_of(
    st.tuples(st.just("mint"), st.sampled_from(MODULES), st.sampled_from(_DENOMS), _AMOUNT),
    st.tuples(st.just("burn"), st.sampled_from(MODULES), st.sampled_from(_DENOMS), _AMOUNT),
    st.tuples(
        st.just("release"),
        st.tuples(st.sampled_from(MODULES), st.sampled_from(_HOLDERS)),
        st.sampled_from(_DENOMS),
        _AMOUNT,
    ),
    st.tuples(
        st.just("escrow"),
        st.tuples(st.sampled_from(_HOLDERS), st.sampled_from(MODULES)),
        st.sampled_from(_DENOMS),
        _AMOUNT,
    ),
    st.tuples(
        st.just("send"),
        st.tuples(st.sampled_from(_HOLDERS), st.sampled_from(_HOLDERS)),
        st.sampled_from(_DENOMS),
        _AMOUNT,
    ),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_OP, max_size=30))
def test_random_operations_keep_supply_equal_to_balances(ops: list) -> None:
    store, _, bank = _setup()
    model: dict[tuple[bytes, str], int] = {}

    def address(who: object) -> bytes:
        return bank.module_account(who) if isinstance(who, str) else who

    for op, who, denom, wanted in ops:
        if op in ("mint", "burn"):
            src, dst = (None, address(who)) if op == "mint" else (address(who), None)
        else:
            src, dst = address(who[0]), address(who[1])
        held = model.get((src, denom), 0) if src is not None else 1000
        amount = wanted if isinstance(wanted, int) else max(1, held if wanted == "all" else held // 2)
        coins = Coins.of([(denom, amount)])
        tx = store.branch()
        try:
            if op == "mint":
                bank.mint_coins(tx, who, coins)
            elif op == "burn":
                bank.burn_coins(tx, who, coins)
            elif op == "release":
                bank.send_coins_from_module_to_account(tx, who[0], who[1], coins)
            elif op == "escrow":
                bank.send_coins_from_account_to_module(tx, who[0], who[1], coins)
            else:
                bank.send_coins(tx, who[0], who[1], coins)
        except SynodError as e:
            assert ErrInsufficientFunds.is_(e)
            assert src is not None and model.get((src, denom), 0) < amount
        else:
            assert src is None or model.get((src, denom), 0) >= amount
            tx.write()
            if src is not None:
                model[(src, denom)] -= amount
            if dst is not None:
                model[(dst, denom)] = model.get((dst, denom), 0) + amount

        check_supply(store, bank)
        stored = {(a, d): n for a, d, n in bank.iterate_balances(store)}
        assert stored == {k: v for k, v in model.items() if v}
