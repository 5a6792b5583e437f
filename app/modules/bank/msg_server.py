"""bank message handlers: validate -> keeper -> events."""

from __future__ import annotations

from app.core.coins import coins_from_proto
from app.core.context import Context
from app.core.crypto import decode_address
from app.core.msgs import MsgRoute, decode_address_field
from app.modules.bank.errors import ErrBlockedRecipient, ErrNoCoins, ErrTooManyDenoms
from app.modules.bank.keeper import BankKeeper
from synod.bank.v1 import tx_pb2

__all__ = ["routes", "validate_send"]


def validate_send(msg: tx_pb2.MsgSend) -> None:
    """Stateless checks of MsgSend."""
    decode_address_field(msg.from_address, "from_address")
    decode_address_field(msg.to_address, "to_address")
    if not msg.amount:
        raise ErrNoCoins.wrap("MsgSend has no amount")
    coins_from_proto(list(msg.amount))


def routes(bank: BankKeeper) -> list[MsgRoute]:
    """The bank module's message routes."""

    def handle_send(ctx: Context, msg: tx_pb2.MsgSend) -> None:
        coins = coins_from_proto(list(msg.amount))
        limit = bank.get_params(ctx.store).max_send_denoms
        if len(coins) > limit:
            raise ErrTooManyDenoms.wrap(f"{len(coins)} denoms in one send, the limit is {limit}")
        recipient = decode_address(msg.to_address)
        if recipient in bank.module_addresses.values():
            # Escrows move only through their module's rules (as the Cosmos SDK's blocked addresses).
            raise ErrBlockedRecipient.wrap(f"{msg.to_address} is a module account; send to a person")
        bank.send_coins(ctx.store, decode_address(msg.from_address), recipient, coins)
        ctx.events.emit("transfer", sender=msg.from_address, recipient=msg.to_address, amount=str(coins))

    return [
        MsgRoute(
            cls=tx_pb2.MsgSend,
            signer=lambda m: m.from_address,
            validate=validate_send,
            handle=handle_send,
            reads_block_time=False,
        )
    ]
