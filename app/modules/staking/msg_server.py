"""staking message handlers: validate -> keeper -> events."""

from __future__ import annotations

from app.core.coins import parse_amount
from app.core.context import Context
from app.core.crypto import PUBKEY_LEN, address_bytes_from_pubkey, decode_address
from app.core.errors import ErrInvalidRequest
from app.core.msgs import MsgRoute, decode_address_field
from app.modules.staking.errors import (
    ErrBadDenom,
    ErrConsensusKeyTaken,
    ErrInvalidConsensusKey,
    ErrJailPeriod,
    ErrNotJailed,
    ErrSelfBondTooSmall,
    ErrTombstoned,
    ErrValidatorExists,
)
from app.modules.staking.keeper import StakingKeeper
from synod.base.v1 import coin_pb2
from synod.staking.v1 import tx_pb2

__all__ = ["routes"]

_MAX_MONIKER = 70


def _amount(coin: coin_pb2.Coin) -> int:
    """A positive canonical integer amount (the denom is checked against params in the handler)."""
    return parse_amount(coin.amount, f"amount of {coin.denom}")


def validate_create(msg: tx_pb2.MsgCreateValidator) -> None:
    """Stateless checks of MsgCreateValidator."""
    decode_address_field(msg.operator_address, "operator_address")
    if len(msg.consensus_pubkey) != PUBKEY_LEN:
        raise ErrInvalidConsensusKey.wrap(f"consensus key must be {PUBKEY_LEN} bytes of ed25519")
    if not 0 < len(msg.moniker) <= _MAX_MONIKER:
        raise ErrInvalidRequest.wrap(f"moniker must be 1-{_MAX_MONIKER} characters")
    _amount(msg.self_bond)


def validate_delegation(msg: tx_pb2.MsgDelegate | tx_pb2.MsgUndelegate) -> None:
    """Stateless checks of MsgDelegate and MsgUndelegate."""
    decode_address_field(msg.delegator_address, "delegator_address")
    decode_address_field(msg.validator_address, "validator_address")
    _amount(msg.amount)


def validate_unjail(msg: tx_pb2.MsgUnjail) -> None:
    """Stateless checks of MsgUnjail."""
    decode_address_field(msg.validator_address, "validator_address")


def routes(k: StakingKeeper) -> list[MsgRoute]:
    """The staking module's message routes."""

    def bond_amount(ctx: Context, coin: coin_pb2.Coin) -> int:
        denom = k.get_params(ctx.store).bond_denom
        if coin.denom != denom:
            raise ErrBadDenom.wrap(f"stake must be in {denom}, got {coin.denom}")
        return _amount(coin)

    def create_validator(ctx: Context, msg: tx_pb2.MsgCreateValidator) -> None:
        operator = decode_address(msg.operator_address)
        if k.get_validator(ctx.store, operator) is not None:
            raise ErrValidatorExists.wrap(msg.operator_address)
        if k.operator_by_consensus(ctx.store, address_bytes_from_pubkey(msg.consensus_pubkey)):
            raise ErrConsensusKeyTaken.wrap("pick a fresh consensus key (priv_validator_key.json)")
        amount = bond_amount(ctx, msg.self_bond)
        minimum = int(k.get_params(ctx.store).min_self_bond)
        if amount < minimum:
            raise ErrSelfBondTooSmall.wrap(f"self-bond {amount} is below the minimum {minimum}")
        v = k.new_validator(msg.operator_address, msg.consensus_pubkey, msg.moniker)
        k.add_tokens(ctx.store, operator, v, amount)
        ctx.events.emit("create_validator", validator=msg.operator_address, amount=amount)

    def delegate(ctx: Context, msg: tx_pb2.MsgDelegate) -> None:
        v = k.require_validator(ctx.store, decode_address(msg.validator_address))
        if v.tombstoned:
            raise ErrTombstoned.wrap(f"{msg.validator_address} cannot receive delegations")
        amount = bond_amount(ctx, msg.amount)
        shares = k.add_tokens(ctx.store, decode_address(msg.delegator_address), v, amount)
        ctx.events.emit(
            "delegate",
            delegator=msg.delegator_address,
            validator=msg.validator_address,
            amount=amount,
            shares=shares,
        )

    def undelegate(ctx: Context, msg: tx_pb2.MsgUndelegate) -> None:
        operator = decode_address(msg.validator_address)
        delegator = decode_address(msg.delegator_address)
        v = k.require_validator(ctx.store, operator)
        amount = k.remove_tokens(ctx.store, delegator, v, bond_amount(ctx, msg.amount))
        completion = ctx.block.time_seconds + k.get_params(ctx.store).unbonding_seconds
        k.add_unbonding(ctx.store, delegator, operator, amount, ctx.block.height, completion)
        ctx.events.emit(
            "unbond",
            delegator=msg.delegator_address,
            validator=msg.validator_address,
            amount=amount,
            completion_time=completion,
        )

    def unjail(ctx: Context, msg: tx_pb2.MsgUnjail) -> None:
        v = k.require_validator(ctx.store, decode_address(msg.validator_address))
        if v.tombstoned:
            raise ErrTombstoned.wrap("a validator that double-signed is jailed for good")
        if not v.jailed:
            raise ErrNotJailed.wrap(msg.validator_address)
        if ctx.block.time_seconds < v.jailed_until:
            raise ErrJailPeriod.wrap(
                f"jailed until block time {v.jailed_until}, now {ctx.block.time_seconds}; try again later"
            )
        minimum = int(k.get_params(ctx.store).min_self_bond)
        if k.self_bond(ctx.store, v) < minimum:
            raise ErrSelfBondTooSmall.wrap(
                f"self-bond must be at least {minimum} to unjail; delegate more first"
            )
        v.jailed = False
        k.set_validator(ctx.store, v)
        ctx.events.emit("unjail", validator=msg.validator_address)

    return [
        MsgRoute(tx_pb2.MsgCreateValidator, lambda m: m.operator_address, validate_create, create_validator),
        MsgRoute(tx_pb2.MsgDelegate, lambda m: m.delegator_address, validate_delegation, delegate),
        MsgRoute(tx_pb2.MsgUndelegate, lambda m: m.delegator_address, validate_delegation, undelegate),
        MsgRoute(tx_pb2.MsgUnjail, lambda m: m.validator_address, validate_unjail, unjail),
    ]
