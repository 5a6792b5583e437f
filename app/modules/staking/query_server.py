"""staking queries: validators, delegations, unbonding and params (shared by server and verifying client).

Derived fields are computed from proven entries only: a validator's power is its LAST_POWER entry
(proven absent: 0), a delegation's token value comes from the validator entry it is proven against.
"""

from __future__ import annotations

from app.core.codec import decode_amount, from_u64be
from app.core.crypto import ADDRESS_LEN, encode_address
from app.core.query import QueryService, StateReader, parse_address
from app.modules.staking import keys
from app.modules.staking.logic import compute_tokens_for_shares
from app.modules.staking.params import default_params
from synod.staking.v1 import query_pb2 as q
from synod.staking.v1 import staking_pb2

__all__ = [
    "SERVICE",
    "answer_delegations",
    "answer_params",
    "answer_unbonding",
    "answer_validator",
    "answer_validators",
]


def _key(table_key: bytes) -> bytes:
    """Full state key of a staking table key."""
    return keys.STORE_PREFIX + table_key


def _power(state: StateReader, operator: bytes) -> int:
    """Power last sent to CometBFT; no entry means the validator is not in the active set."""
    raw = state.get(_key(keys.last_power_key(operator)))
    return from_u64be(raw) if raw is not None else 0


def answer_validators(state: StateReader, request: q.QueryValidatorsRequest) -> q.QueryValidatorsResponse:
    """A page of validators in operator order, each with its power."""
    prefix = _key(keys.VALIDATOR)
    items, page = state.page(prefix, request.pagination)
    response = q.QueryValidatorsResponse(pagination=page)
    for key, raw in items:
        response.validators.append(staking_pb2.Validator.FromString(raw))
        response.powers.append(_power(state, key[len(prefix) :]))
    return response


def answer_validator(state: StateReader, request: q.QueryValidatorRequest) -> q.QueryValidatorResponse:
    """One validator and its power, or no validator (absent)."""
    operator = parse_address(request.operator_address, "operator_address")
    raw = state.get(_key(keys.validator_key(operator)))
    if raw is None:
        return q.QueryValidatorResponse()
    return q.QueryValidatorResponse(
        validator=staking_pb2.Validator.FromString(raw), power=_power(state, operator)
    )


def answer_delegations(state: StateReader, request: q.QueryDelegationsRequest) -> q.QueryDelegationsResponse:
    """A page of one delegator's delegations, each with the token value of its shares."""
    delegator = parse_address(request.delegator_address, "delegator_address")
    prefix = _key(keys.delegation_key(delegator))
    items, page = state.page(prefix, request.pagination)
    response = q.QueryDelegationsResponse(pagination=page)
    for key, raw in items:
        operator = key[len(prefix) : len(prefix) + ADDRESS_LEN]
        shares = decode_amount(raw)
        validator_raw = state.get(_key(keys.validator_key(operator)))
        if validator_raw is None:
            raise LookupError(f"delegation to {encode_address(operator)}, which is not a validator")
        v = staking_pb2.Validator.FromString(validator_raw)
        response.delegations.add(
            delegator_address=encode_address(delegator),
            validator_address=v.operator_address,
            shares=str(shares),
        )
        response.balances.append(
            str(compute_tokens_for_shares(shares, int(v.tokens), int(v.delegator_shares)))
        )
    return response


def answer_unbonding(state: StateReader, request: q.QueryUnbondingRequest) -> q.QueryUnbondingResponse:
    """A page of the unbonding queue in completion order."""
    items, page = state.page(_key(keys.UNBONDING_QUEUE), request.pagination)
    return q.QueryUnbondingResponse(
        entries=[staking_pb2.UnbondingEntry.FromString(raw) for _, raw in items], pagination=page
    )


def answer_params(state: StateReader, request: q.QueryParamsRequest) -> q.QueryParamsResponse:
    """Params; the defaults apply while none are stored."""
    raw = state.get(_key(keys.PARAMS))
    return q.QueryParamsResponse(
        params=default_params() if raw is None else staking_pb2.Params.FromString(raw)
    )


SERVICE = QueryService(
    "staking",
    q.DESCRIPTOR.services_by_name["Query"],
    {
        "Validators": answer_validators,
        "Validator": answer_validator,
        "Delegations": answer_delegations,
        "Unbonding": answer_unbonding,
        "Params": answer_params,
    },
)
