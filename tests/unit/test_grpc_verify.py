"""Verifying gRPC answers: honest answers pass, and every kind of tampering fails with its own error.

Answers are made by the server's own CommittedReader over an in-memory committed store, so these
tests need no network; the app hash they verify against stands in for the light client's.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.client.light import InsufficientVotingPower
from app.client.querier import merge_pages
from app.client.rpc import RpcError
from app.client.verified import (
    BadPagination,
    HeaderUnavailable,
    MalformedProof,
    MissingProof,
    TamperedAnswer,
    TamperedEntry,
    VerifiedQuerier,
    WrongHeight,
    WrongKey,
    verify_answer,
)
from app.core.codec import encode_amount, u64be
from app.core.crypto import encode_address
from app.modules.auth import keys as auth_keys
from app.modules.bank import keys as bank_keys
from app.modules.services import get_service
from app.modules.staking import keys as staking_keys
from app.state.backend import MemoryBackend
from app.state.proving import CommittedReader
from app.state.store import CommitStore
from synod.auth.v1 import auth_pb2
from synod.auth.v1 import query_pb2 as auth_query
from synod.bank.v1 import query_pb2 as bank_query
from synod.staking.v1 import query_pb2 as staking_query
from synod.staking.v1 import staking_pb2

ALICE, BOB, CAROL = (bytes([n]) * 20 for n in (1, 2, 3))


def _commit(state: dict[bytes, bytes], height: int = 7) -> CommitStore:
    """A store whose committed state at `height` is exactly `state` (full keys)."""
    store = CommitStore(MemoryBackend())
    block = store.branch()
    for key, value in state.items():
        block.set(key, value)
    store.stage(block, height)
    store.commit()
    return store


def _bank(address: bytes, denom: str) -> bytes:
    return bank_keys.STORE_PREFIX + bank_keys.balance_key(address, denom)


def _account(address: bytes, number: int) -> tuple[bytes, bytes]:
    account = auth_pb2.BaseAccount(address=encode_address(address), account_number=number)
    return auth_keys.STORE_PREFIX + auth_keys.account_key(address), account.SerializeToString()


def _validator(operator: bytes, tokens: int, power: int | None) -> dict[bytes, bytes]:
    """A validator whose shares are worth two tokens each (a slash-free history would give one)."""
    v = staking_pb2.Validator(
        operator_address=encode_address(operator), tokens=str(tokens), delegator_shares=str(tokens // 2)
    )
    state = {staking_keys.STORE_PREFIX + staking_keys.validator_key(operator): v.SerializeToString()}
    if power is not None:
        state[staking_keys.STORE_PREFIX + staking_keys.last_power_key(operator)] = u64be(power)
    return state


@pytest.fixture(scope="module")
def store() -> CommitStore:
    """Three accounts, some balances, two validators (one outside the active set), a delegation."""
    state = dict([_account(ALICE, 0), _account(BOB, 1), _account(CAROL, 2)])
    state |= {_bank(ALICE, "usyn"): encode_amount(500), _bank(ALICE, "uabc"): encode_amount(7)}
    state |= {_bank(BOB, "usyn"): encode_amount(9)}
    state |= _validator(ALICE, 3_000_000, 3) | _validator(BOB, 10, None)
    state[staking_keys.STORE_PREFIX + staking_keys.delegation_key(CAROL, ALICE)] = encode_amount(1_000_000)
    return _commit(state)


def _serve(store: CommitStore, module: str, method: str, request):  # noqa: ANN001, ANN202
    """What the server answers (proof attached)."""
    reader = CommittedReader.open(store.backend)
    try:
        return reader.answer(get_service(module).answers[method], request)
    finally:
        reader.close()


def _verify(store: CommitStore, module: str, method: str, request, response):  # noqa: ANN001, ANN202
    return verify_answer(get_service(module), method, request, response, store.app_hash)


ALL_BALANCES = ("bank", "AllBalances", bank_query.QueryAllBalancesRequest(address=encode_address(ALICE)))
VALIDATORS = ("staking", "Validators", staking_query.QueryValidatorsRequest())
ACCOUNT = ("auth", "Account", auth_query.QueryAccountRequest(address=encode_address(BOB)))


# ---------------------------------------------------------------- honest answers


def test_honest_answers_verify_and_equal_the_state(store: CommitStore) -> None:
    balances = _verify(store, *ALL_BALANCES, _serve(store, *ALL_BALANCES))
    assert [(c.denom, c.amount) for c in balances.balances] == [("uabc", "7"), ("usyn", "500")]

    validators = _verify(store, *VALIDATORS, _serve(store, *VALIDATORS))
    assert [v.tokens for v in validators.validators] == ["3000000", "10"]
    assert list(validators.powers) == [3, 0]  # BOB's power is proven absent

    request = staking_query.QueryDelegationsRequest(delegator_address=encode_address(CAROL))
    delegations = _verify(
        store, "staking", "Delegations", request, _serve(store, "staking", "Delegations", request)
    )
    assert list(delegations.balances) == ["2000000"]  # 1,000,000 shares at two tokens each


def test_absence_is_proven_for_point_queries(store: CommitStore) -> None:
    stranger = encode_address(bytes([9]) * 20)
    request = auth_query.QueryAccountRequest(address=stranger)
    response = _serve(store, "auth", "Account", request)
    assert [e.exists for e in response.proof.entries] == [False]
    assert not _verify(store, "auth", "Account", request, response).HasField("account")

    request = bank_query.QueryBalanceRequest(address=stranger, denom="usyn")
    answer = _verify(store, "bank", "Balance", request, _serve(store, "bank", "Balance", request))
    assert answer.balance.amount == "0"


def test_params_default_when_absent_and_are_proven_absent(store: CommitStore) -> None:
    request = bank_query.QueryParamsRequest()
    response = _serve(store, "bank", "Params", request)
    assert not response.proof.entries[0].exists
    assert _verify(store, "bank", "Params", request, response).params.max_send_denoms == 8


def test_pages_verify_one_by_one_and_cover_the_list(store: CommitStore) -> None:
    request = auth_query.QueryAccountsRequest()
    request.pagination.limit = 1
    pages = []
    while True:
        answer = _verify(store, "auth", "Accounts", request, _serve(store, "auth", "Accounts", request))
        pages.append(answer)
        if not answer.pagination.next_key:
            break
        request.pagination.key = answer.pagination.next_key
    assert [len(p.accounts) for p in pages] == [1, 1, 1]
    assert [a.account_number for a in merge_pages(pages).accounts] == [0, 1, 2]


# ---------------------------------------------------------------- tampering, one named error each


def test_tampered_value_is_rejected(store: CommitStore) -> None:
    response = _serve(store, *ALL_BALANCES)
    response.proof.entries[0].value = encode_amount(10**9)
    with pytest.raises(TamperedEntry, match="value or the proof was tampered with"):
        _verify(store, *ALL_BALANCES, response)


def test_tampered_proof_is_rejected(store: CommitStore) -> None:
    response = _serve(store, *ALL_BALANCES)
    proof = bytearray(response.proof.entries[1].proof)
    proof[-1] ^= 1
    response.proof.entries[1].proof = bytes(proof)
    with pytest.raises(TamperedEntry):
        _verify(store, *ALL_BALANCES, response)
    response.proof.entries[1].proof = b"\x07"
    with pytest.raises(MalformedProof):
        _verify(store, *ALL_BALANCES, response)


def test_a_false_absence_claim_is_rejected(store: CommitStore) -> None:
    response = _serve(store, *ACCOUNT)
    response.proof.entries[0].exists = False
    response.proof.entries[0].value = b""
    with pytest.raises(TamperedEntry, match="its absence"):
        _verify(store, *ACCOUNT, response)


def test_proof_against_another_height_is_rejected(store: CommitStore) -> None:
    response = _serve(store, *ACCOUNT)
    later = _commit({**dict(store.view.iterate(b"")), _bank(CAROL, "usyn"): encode_amount(1)}, height=8)
    with pytest.raises(WrongHeight, match="another height"):
        verify_answer(get_service("auth"), "Account", ACCOUNT[2], response, later.app_hash)
    response.proof.height = 0
    with pytest.raises(MissingProof):
        _verify(store, *ACCOUNT, response)


def test_proof_for_another_key_is_rejected(store: CommitStore) -> None:
    honest_for_carol = _serve(
        store, "auth", "Account", auth_query.QueryAccountRequest(address=encode_address(CAROL))
    )
    response = _serve(store, *ACCOUNT)
    response.proof.ClearField("entries")
    response.proof.entries.extend(honest_for_carol.proof.entries)
    response.account.CopyFrom(honest_for_carol.account)
    with pytest.raises(WrongKey, match="proof for another key"):
        _verify(store, *ACCOUNT, response)


def test_an_unasked_for_proof_is_rejected(store: CommitStore) -> None:
    response = _serve(store, *ACCOUNT)
    response.proof.entries.extend(_serve(store, *ALL_BALANCES).proof.entries)
    with pytest.raises(WrongKey, match="did not ask about"):
        _verify(store, *ACCOUNT, response)


def test_tampered_derived_fields_are_rejected(store: CommitStore) -> None:
    response = _serve(store, *VALIDATORS)
    response.powers[1] = 5  # BOB's power: its absence is proven, so 0 is the only true answer
    with pytest.raises(TamperedAnswer, match="powers"):
        _verify(store, *VALIDATORS, response)
    response = _serve(store, *ALL_BALANCES)
    response.balances[0].amount = "8"  # the proven entry says 7
    with pytest.raises(TamperedAnswer, match="balances"):
        _verify(store, *ALL_BALANCES, response)


def test_an_item_without_its_proof_is_rejected_but_a_dropped_item_is_not_detectable(
    store: CommitStore,
) -> None:
    response = _serve(store, *ALL_BALANCES)
    del response.proof.entries[0]
    with pytest.raises(TamperedAnswer):
        _verify(store, *ALL_BALANCES, response)
    # Completeness cannot be proven with a hash-keyed tree: dropping item and proof goes unnoticed.
    del response.balances[0]
    assert [c.denom for c in _verify(store, *ALL_BALANCES, response).balances] == ["usyn"]


def test_a_page_key_that_does_not_advance_is_rejected(store: CommitStore) -> None:
    request = auth_query.QueryAccountsRequest()
    request.pagination.limit = 1
    request.pagination.key = ALICE[:1] + b"\xff"
    response = _serve(store, "auth", "Accounts", request)
    response.pagination.next_key = ALICE
    with pytest.raises(BadPagination):
        _verify(store, "auth", "Accounts", request, response)


# ---------------------------------------------------------------- properties

_addresses = st.sampled_from([bytes([n]) * 20 for n in range(1, 6)])
_denoms = st.sampled_from(["usyn", "uabc", "stake", "uxyz"])
_balances = st.dictionaries(st.tuples(_addresses, _denoms), st.integers(1, 2**80), max_size=12)


def _balance_store(balances: dict[tuple[bytes, str], int]) -> CommitStore:
    return _commit({_bank(a, d): encode_amount(n) for (a, d), n in balances.items()} or {b"\x00x": b"1"})


@settings(max_examples=40, deadline=None)
@given(balances=_balances, address=_addresses, denom=_denoms)
def test_property_honest_balance_answers_verify_to_the_truth(
    balances: dict[tuple[bytes, str], int], address: bytes, denom: str
) -> None:
    store = _balance_store(balances)
    request = bank_query.QueryBalanceRequest(address=encode_address(address), denom=denom)
    answer = _verify(store, "bank", "Balance", request, _serve(store, "bank", "Balance", request))
    assert int(answer.balance.amount) == balances.get((address, denom), 0)
    request = bank_query.QueryAllBalancesRequest(address=encode_address(address))
    answer = _verify(store, "bank", "AllBalances", request, _serve(store, "bank", "AllBalances", request))
    expected = sorted((d, n) for (a, d), n in balances.items() if a == address)
    assert [(c.denom, int(c.amount)) for c in answer.balances] == expected


@settings(max_examples=60, deadline=None)
@given(balances=_balances, address=_addresses, data=st.data())
def test_property_any_flipped_bit_in_an_entry_is_rejected(
    balances: dict[tuple[bytes, str], int], address: bytes, data: st.DataObject
) -> None:
    store = _balance_store(balances)
    request = bank_query.QueryAllBalancesRequest(address=encode_address(address))
    response = _serve(store, "bank", "AllBalances", request)
    entries = response.proof.entries
    if not entries:
        request = bank_query.QueryBalanceRequest(address=encode_address(address), denom="usyn")
        response = _serve(store, "bank", "Balance", request)
        entries = response.proof.entries
    entry = entries[data.draw(st.integers(0, len(entries) - 1))]
    field = data.draw(st.sampled_from(["key", "value", "proof"] if entry.exists else ["key", "proof"]))
    raw = bytearray(getattr(entry, field))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    setattr(entry, field, bytes(raw))
    method = "AllBalances" if isinstance(request, bank_query.QueryAllBalancesRequest) else "Balance"
    with pytest.raises((TamperedEntry, MalformedProof, WrongKey)):
        _verify(store, "bank", method, request, response)


# ---------------------------------------------------------------- VerifiedQuerier's header wait


class _Light:
    """A stand-in light client: header height+1 appears after `missing` tries, or fails with `error`."""

    def __init__(self, store: CommitStore, missing: int = 0, error: Exception | None = None) -> None:
        self.store, self.missing, self.error, self.calls = store, missing, error, 0
        self.rpc = self

    def commit(self, height: int | None = None) -> dict:
        return {"header": {"height": str(self.store.height)}}

    def verify_to_height(self, height: int) -> SimpleNamespace:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if self.calls <= self.missing:
            raise RpcError(f"height {height} must be less than or equal to the current blockchain height")
        return SimpleNamespace(app_hash=self.store.app_hash)


class _Server:
    """A stand-in gRPC client answering from the store, as the server would."""

    def __init__(self, store: CommitStore) -> None:
        self.store = store

    def call(self, service, method: str, request):  # noqa: ANN001, ANN201
        return _serve(self.store, service.module, method, request)


def test_the_querier_waits_for_the_next_header(store: CommitStore) -> None:
    light = _Light(store, missing=2)
    verified = VerifiedQuerier(_Server(store), light).query(*ACCOUNT)  # type: ignore[arg-type]
    assert (verified.height, verified.app_hash, light.calls) == (store.height, store.app_hash, 3)
    assert verified.answer.account.account_number == 1


def test_the_querier_gives_up_on_a_header_that_never_comes(store: CommitStore) -> None:
    querier = VerifiedQuerier(_Server(store), _Light(store, missing=10**6), header_timeout_s=0.3)  # type: ignore[arg-type]
    with pytest.raises(HeaderUnavailable, match="has not reached"):
        querier.query(*ACCOUNT)


def test_light_client_rejections_reach_the_caller_unchanged(store: CommitStore) -> None:
    error = InsufficientVotingPower(10, 26, "commit at height 8 (needs > 2/3)")
    querier = VerifiedQuerier(_Server(store), _Light(store, error=error))  # type: ignore[arg-type]
    with pytest.raises(InsufficientVotingPower, match="10 voting power signed"):
        querier.query(*ACCOUNT)
