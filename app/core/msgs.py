"""Message routes: how the app finds a message's type, signer, stateless check and handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from app.core.context import Context
from app.core.crypto import AddressError, decode_address
from app.core.errors import ErrInvalidAddress

__all__ = ["MsgRoute", "decode_address_field", "type_url"]


def decode_address_field(addr: str, field: str) -> bytes:
    """Decode a bech32 address field of a message, naming the field in ErrInvalidAddress."""
    try:
        return decode_address(addr)
    except AddressError as e:
        raise ErrInvalidAddress.wrap(f"{field}: {e}") from None


def type_url(cls: type[Message]) -> str:
    """The Any type URL of a message class: `/synod.bank.v1.MsgSend`."""
    return "/" + cls.DESCRIPTOR.full_name


@dataclass(frozen=True)
class MsgRoute:
    """One message type: every message has a proto, a signer, a stateless check and a handler."""

    cls: type[Message]
    signer: Callable[[Any], str]
    validate: Callable[[Any], None]
    handle: Callable[[Context, Any], Message | None]
    # Whether the handler may read ctx.block's height or time. False (a promise, tested for the
    # routes that make it) lets a mempool RECHECK answer from the last check (app/core/recheck.py).
    reads_block_time: bool = True

    @property
    def type_url(self) -> str:
        """The Any type URL this route serves."""
        return type_url(self.cls)
