"""ABCI Query routes over committed state. Paths follow `/module/what`; `/store` is the raw map.

`/store` answers with the value of a raw state key and, when asked, a Merkle proof (membership or
absence) against the app hash of the answered height: a client checks it against header H+1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.core.crypto import AddressError, decode_address, encode_address
from app.core.errors import ErrInvalidAddress, ErrInvalidRequest, ErrNotFound, ErrUnknownRequest, SynodError
from app.modules.committee import query_server as committee_queries
from app.modules.consensus import query_server as consensus_queries
from app.modules.staking.logic import compute_tokens_for_shares
from app.modules.tasks import query_server as tasks_queries
from app.state.store import QueryError
from synod.auth.v1 import query_pb2 as auth_query
from synod.bank.v1 import query_pb2 as bank_query
from synod.base.v1 import coin_pb2
from synod.slashing.v1 import slashing_pb2
from synod.staking.v1 import query_pb2 as staking_query

if TYPE_CHECKING:
    from app.app import SynodApp

__all__ = ["QueryResult", "QueryRouter", "PROOF_OP_TYPE"]

# ProofOp.type of our sparse Merkle proofs (app/state/smt.py encoding).
PROOF_OP_TYPE = "synod/smt"


@dataclass
class QueryResult:
    """An ABCI Query answer."""

    code: int = 0
    codespace: str = ""
    log: str = ""
    key: bytes = b""
    value: bytes = b""
    height: int = 0
    proof_ops: list[tuple[str, bytes, bytes]] = field(default_factory=list)


def _address(data: bytes) -> bytes:
    """Decode a bech32 address sent as query data."""
    try:
        return decode_address(data.decode("utf-8", errors="replace"))
    except AddressError as e:
        raise ErrInvalidAddress.wrap(str(e)) from None


class QueryRouter:
    """Dispatches query paths; every answer reads committed state only."""

    def __init__(self, app: SynodApp) -> None:
        self._app = app
        self._routes: dict[str, Callable[[bytes], bytes]] = {
            "/auth/account": self._account,
            "/auth/params": lambda _: auth_query.QueryParamsResponse(
                params=app.auth.get_params(self._view)
            ).SerializeToString(),
            "/bank/balances": self._balances,
            "/bank/supply": self._supply,
            "/bank/params": lambda _: bank_query.QueryParamsResponse(
                params=app.bank.get_params(self._view)
            ).SerializeToString(),
            "/staking/validators": self._validators,
            "/staking/validator": self._validator,
            "/staking/delegations": self._delegations,
            "/staking/unbonding": lambda _: staking_query.QueryUnbondingResponse(
                entries=list(app.staking.iterate_unbonding(self._view))
            ).SerializeToString(),
            "/staking/params": lambda _: staking_query.QueryParamsResponse(
                params=app.staking.get_params(self._view)
            ).SerializeToString(),
            "/slashing/signing-infos": lambda _: slashing_pb2.QuerySigningInfosResponse(
                infos=list(app.slashing.iterate_signing_infos(self._view))
            ).SerializeToString(),
            "/slashing/evidence": lambda _: slashing_pb2.QueryEvidenceResponse(
                evidence=list(app.slashing.iterate_evidence(self._view))
            ).SerializeToString(),
            "/slashing/params": lambda _: slashing_pb2.QueryParamsResponse(
                params=app.slashing.get_params(self._view)
            ).SerializeToString(),
        }
        self._routes.update(tasks_queries.routes(app.tasks, lambda: self._view, lambda: app.store.height))
        self._routes.update(committee_queries.routes(app.committee, lambda: self._view))
        self._routes.update(
            consensus_queries.routes(app.consensus, lambda: self._view, lambda: app.store.height)
        )

    @property
    def _view(self):  # noqa: ANN202 - the committed StateView
        return self._app.store.view

    def paths(self) -> list[str]:
        """Every supported path (for error messages and docs)."""
        return ["/store", *sorted(self._routes)]

    def handle(self, path: str, data: bytes, height: int, prove: bool) -> QueryResult:
        """Answer one query; errors become codes, never exceptions."""
        store = self._app.store
        try:
            if path == "/store":
                return self._store(data, height, prove)
            if height not in (0, store.height):
                raise QueryError(f"only the latest height {store.height} is served for {path}; pass height 0")
            route = self._routes.get(path)
            if route is None:
                raise ErrUnknownRequest.wrap(f"unknown query path {path!r}; known: {self.paths()}")
            return QueryResult(value=route(data), height=store.height)
        except SynodError as e:
            return QueryResult(e.code, e.codespace, str(e), height=store.height)
        except QueryError as e:
            return QueryResult(ErrInvalidRequest.code, "sdk", str(e), height=store.height)

    def _store(self, key: bytes, height: int, prove: bool) -> QueryResult:
        """Raw state key -> value, with a proof when asked."""
        if not key:
            raise ErrInvalidRequest.wrap("/store needs the raw state key as data")
        value, proof, answered = self._app.store.prove(key, height)
        ops = [(PROOF_OP_TYPE, key, proof.encode())] if prove else []
        return QueryResult(key=key, value=value or b"", height=answered, proof_ops=ops)

    def _account(self, data: bytes) -> bytes:
        """BaseAccount of an address."""
        account = self._app.auth.get_account(self._view, _address(data))
        if account is None:
            raise ErrNotFound.wrap(f"account {data.decode(errors='replace')} not found")
        return auth_query.QueryAccountResponse(account=account).SerializeToString()

    def _balances(self, data: bytes) -> bytes:
        """All balances of an address (empty if none)."""
        coins = self._app.bank.get_all_balances(self._view, _address(data))
        resp = bank_query.QueryAllBalancesResponse(
            balances=[coin_pb2.Coin(denom=d, amount=str(a)) for d, a in coins]
        )
        return resp.SerializeToString()

    def _validators(self, _: bytes) -> bytes:
        """Every validator with the power last sent to CometBFT (0 if not in the active set)."""
        powers = self._app.staking.get_last_powers(self._view)
        validators = list(self._app.staking.iterate_validators(self._view))
        return staking_query.QueryValidatorsResponse(
            validators=validators,
            powers=[powers.get(decode_address(v.operator_address), 0) for v in validators],
        ).SerializeToString()

    def _validator(self, data: bytes) -> bytes:
        """One validator by operator address."""
        operator = _address(data)
        v = self._app.staking.get_validator(self._view, operator)
        if v is None:
            raise ErrNotFound.wrap(f"no validator with operator {data.decode(errors='replace')}")
        power = self._app.staking.get_last_powers(self._view).get(operator, 0)
        return staking_query.QueryValidatorResponse(validator=v, power=power).SerializeToString()

    def _delegations(self, data: bytes) -> bytes:
        """A delegator's delegations and their current token value."""
        staking = self._app.staking
        resp = staking_query.QueryDelegationsResponse()
        for delegator, operator, shares in staking.iterate_delegations(self._view, _address(data)):
            v = staking.require_validator(self._view, operator)
            resp.delegations.add(
                delegator_address=encode_address(delegator),
                validator_address=v.operator_address,
                shares=str(shares),
            )
            resp.balances.append(
                str(compute_tokens_for_shares(shares, int(v.tokens), int(v.delegator_shares)))
            )
        return resp.SerializeToString()

    def _supply(self, _: bytes) -> bytes:
        """Total supply of every denom."""
        supply = self._app.bank.iterate_supply(self._view)
        return bank_query.QuerySupplyResponse(
            supply=[coin_pb2.Coin(denom=d, amount=str(a)) for d, a in supply]
        ).SerializeToString()
