"""ABCI Query: proofs against the committed app hash, module routes, errors, and isolation from staging."""

from __future__ import annotations

import pytest

from app.abci.query import PROOF_OP_TYPE, query_paths
from app.client.verified import verify_answer
from app.core.crypto import decode_address, module_address
from app.core.errors import ErrInvalidAddress, ErrInvalidRequest, ErrUnknownRequest
from app.modules.auth import keys as auth_keys
from app.modules.auth.ante import FEE_COLLECTOR
from app.modules.bank import keys as bank_keys
from app.modules.services import SERVICES, get_service
from app.state import smt
from synod.auth.v1 import query_pb2 as auth_query
from synod.bank.v1 import query_pb2 as bank_query
from tendermint.abci import types_pb2 as abci
from tests.integration import harness

ALICE, BOB, CAROL = (harness.test_key(n).address for n in ("alice", "bob", "carol"))
STRANGER = harness.test_key("stranger").address


def _chain() -> harness.Chain:
    """Height 2: alice sent bob 1000 (so both accounts have public keys or balances)."""
    chain = harness.Chain()
    chain.init({"alice": 10**9, "bob": 10**6})
    assert chain.block([chain.send("alice", BOB, 1000)]).tx_results[0].code == 0
    return chain


def _query(chain: harness.Chain, path: str, data: bytes = b"", *, prove: bool = False, height: int = 0):  # noqa: ANN202
    return chain.abci.query(abci.RequestQuery(path=path, data=data, prove=prove, height=height))


def _balance_key(address: str) -> bytes:
    return bank_keys.STORE_PREFIX + bank_keys.balance_key(decode_address(address), harness.DENOM)


def _proof(resp: abci.ResponseQuery) -> smt.Proof:
    assert len(resp.proof_ops.ops) == 1
    op = resp.proof_ops.ops[0]
    assert op.type == PROOF_OP_TYPE == "synod/smt"
    assert op.key == resp.key
    return smt.Proof.decode(op.data)


def test_store_query_membership_proof_verifies_against_info_hash() -> None:
    chain = _chain()
    info = chain.abci.info(abci.RequestInfo())
    key = _balance_key(ALICE)

    resp = _query(chain, "/store", key, prove=True)

    assert resp.code == 0, resp.log
    assert resp.height == info.last_block_height == 2
    assert int.from_bytes(resp.value, "big") == 10**9 - 1000 - 200_000
    proof = _proof(resp)
    smt.verify_membership(info.last_block_app_hash, key, resp.value, proof)
    with pytest.raises(smt.ProofError):
        smt.verify_membership(info.last_block_app_hash, key, resp.value + b"\x00", proof)
    with pytest.raises(smt.ProofError):
        smt.verify_non_membership(info.last_block_app_hash, key, proof)


def test_store_query_account_proof() -> None:
    chain = _chain()
    info = chain.abci.info(abci.RequestInfo())
    key = auth_keys.STORE_PREFIX + auth_keys.account_key(decode_address(ALICE))

    resp = _query(chain, "/store", key, prove=True)

    smt.verify_membership(info.last_block_app_hash, key, resp.value, _proof(resp))


def test_store_query_non_membership_proof_verifies() -> None:
    chain = _chain()
    info = chain.abci.info(abci.RequestInfo())
    key = _balance_key(STRANGER)

    resp = _query(chain, "/store", key, prove=True)

    assert resp.code == 0, resp.log
    assert resp.value == b""
    proof = _proof(resp)
    smt.verify_non_membership(info.last_block_app_hash, key, proof)
    with pytest.raises(smt.ProofError):
        smt.verify_membership(info.last_block_app_hash, key, b"\x01", proof)


def test_store_query_without_prove_has_no_proof() -> None:
    chain = _chain()

    resp = _query(chain, "/store", _balance_key(BOB))

    assert resp.code == 0
    assert int.from_bytes(resp.value, "big") == 10**6 + 1000
    assert not resp.HasField("proof_ops")


@pytest.mark.parametrize(("data", "height"), [(b"", 0), (b"\x02\x01", 1), (b"\x02\x01", 99)])
def test_store_query_bad_requests(data: bytes, height: int) -> None:
    chain = _chain()

    resp = _query(chain, "/store", data, prove=True, height=height)

    assert (resp.codespace, resp.code) == (ErrInvalidRequest.codespace, ErrInvalidRequest.code), resp.log
    assert not resp.proof_ops.ops


def _ask(chain: harness.Chain, path: str, request, *, prove: bool = False, height: int = 0):  # noqa: ANN001, ANN202
    return _query(chain, path, request.SerializeToString(), prove=prove, height=height)


def test_bank_balances_query() -> None:
    chain = _chain()

    resp = _ask(chain, "/synod.bank.v1.Query/AllBalances", bank_query.QueryAllBalancesRequest(address=BOB))

    assert resp.code == 0, resp.log
    answer = bank_query.QueryAllBalancesResponse.FromString(resp.value)
    assert [(c.denom, c.amount) for c in answer.balances] == [(harness.DENOM, str(10**6 + 1000))]
    assert answer.proof.height == resp.height == 2 and not answer.proof.entries  # no proof unless asked
    empty = _ask(
        chain, "/synod.bank.v1.Query/AllBalances", bank_query.QueryAllBalancesRequest(address=STRANGER)
    )
    assert list(bank_query.QueryAllBalancesResponse.FromString(empty.value).balances) == []


def test_a_proven_abci_answer_verifies_like_a_grpc_one() -> None:
    chain = _chain()
    info = chain.abci.info(abci.RequestInfo())
    request = bank_query.QueryAllBalancesRequest(address=BOB)

    resp = _ask(chain, "/synod.bank.v1.Query/AllBalances", request, prove=True)

    answer = bank_query.QueryAllBalancesResponse.FromString(resp.value)
    assert answer.proof.entries and answer.proof.app_hash == info.last_block_app_hash
    rebuilt = verify_answer(get_service("bank"), "AllBalances", request, answer, info.last_block_app_hash)
    assert rebuilt.balances == answer.balances


def test_auth_account_query() -> None:
    chain = _chain()

    resp = _ask(chain, "/synod.auth.v1.Query/Account", auth_query.QueryAccountRequest(address=ALICE))

    assert resp.code == 0, resp.log
    account = auth_query.QueryAccountResponse.FromString(resp.value).account
    assert account.address == ALICE
    assert account.sequence == 1
    assert account.public_key == harness.test_key("alice").public_key
    assert account.account_number == chain.account_number("alice")


def test_bank_supply_query_equals_sum_of_balances() -> None:
    chain = _chain()

    resp = _ask(chain, "/synod.bank.v1.Query/Supply", bank_query.QuerySupplyRequest())

    supply = bank_query.QuerySupplyResponse.FromString(resp.value).supply
    assert [(c.denom, int(c.amount)) for c in supply] == [(harness.DENOM, 10**9 + 10**6)]
    held = sum(chain.balance(a) for a in (ALICE, BOB, module_address(FEE_COLLECTOR)))
    assert held == 10**9 + 10**6


def test_params_queries_decode() -> None:
    chain = _chain()

    auth_params = chain.ask("auth", "Params", auth_query.QueryParamsRequest()).params
    bank_params = chain.ask("bank", "Params", bank_query.QueryParamsRequest()).params

    assert auth_params.fee_denom == harness.DENOM
    assert auth_params.min_gas_price == 1
    assert bank_params.max_send_denoms == 8


def test_unknown_path_and_bad_requests_give_codes() -> None:
    chain = _chain()

    unknown = _query(chain, "/bank/balances", BOB.encode())  # the old hand-written route is gone
    unknown_method = _query(chain, "/synod.bank.v1.Query/Nothing")
    bad_balances = _ask(
        chain,
        "/synod.bank.v1.Query/AllBalances",
        bank_query.QueryAllBalancesRequest(address="synod1notvalid"),
    )
    bad_account = _ask(
        chain, "/synod.auth.v1.Query/Account", auth_query.QueryAccountRequest(address=ALICE.upper())
    )
    not_a_request = _query(chain, "/synod.auth.v1.Query/Account", b"\xff\xfe")
    old_height = _ask(chain, "/synod.bank.v1.Query/Supply", bank_query.QuerySupplyRequest(), height=1)
    missing = _ask(chain, "/synod.auth.v1.Query/Account", auth_query.QueryAccountRequest(address=STRANGER))

    for r in (unknown, unknown_method):
        assert (r.codespace, r.code) == ("sdk", ErrUnknownRequest.code), r.log
    for r in (bad_balances, bad_account):
        assert (r.codespace, r.code) == ("sdk", ErrInvalidAddress.code), r.log
    for r in (not_a_request, old_height):
        assert (r.codespace, r.code) == ("sdk", ErrInvalidRequest.code), r.log
    assert all(r.log for r in (unknown, unknown_method, bad_balances, bad_account, not_a_request, old_height))
    # An account that does not exist is an empty answer (its absence provable), not an error.
    assert missing.code == 0 and not auth_query.QueryAccountResponse.FromString(missing.value).HasField(
        "account"
    )


def test_every_service_method_is_an_abci_path() -> None:
    paths = query_paths()
    for service in SERVICES:
        for method in service.answers:
            assert service.path(method) in paths
    assert len({s.name for s in SERVICES}) == 7


def test_query_during_finalize_reads_committed_state() -> None:
    chain = _chain()
    info = chain.abci.info(abci.RequestInfo())
    key = _balance_key(CAROL)

    staged = chain.finalize([chain.send("alice", CAROL, 777)])
    assert staged.tx_results[0].code == 0
    assert staged.app_hash != info.last_block_app_hash
    balances = _ask(
        chain, "/synod.bank.v1.Query/AllBalances", bank_query.QueryAllBalancesRequest(address=CAROL)
    )
    stored = _query(chain, "/store", key, prove=True)
    account = _ask(chain, "/synod.auth.v1.Query/Account", auth_query.QueryAccountRequest(address=ALICE))

    assert list(bank_query.QueryAllBalancesResponse.FromString(balances.value).balances) == []
    assert balances.height == stored.height == 2
    assert stored.value == b""
    smt.verify_non_membership(info.last_block_app_hash, key, _proof(stored))
    assert auth_query.QueryAccountResponse.FromString(account.value).account.sequence == 1

    chain.abci.commit(abci.RequestCommit())
    after = _query(chain, "/store", key, prove=True)
    assert int.from_bytes(after.value, "big") == 777
    assert after.height == 3
    smt.verify_membership(staged.app_hash, key, after.value, _proof(after))
