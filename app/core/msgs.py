"""Message routes: how the app finds a message's type, signer, stateless check and handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from app.core.context import Context

__all__ = ["MsgRoute", "type_url"]


def type_url(cls: type[Message]) -> str:
    """The Any type URL of a message class: `/synod.bank.v1.MsgSend`."""
    return "/" + cls.DESCRIPTOR.full_name


@dataclass(frozen=True)
class MsgRoute:
    """One message type: every message has a proto, a signer, a stateless check and a handler."""

    cls: type[Message]
    signer: Callable[[Any], str]
    validate: Callable[[Any], None]
    handle: Callable[[Context, Any], None]

    @property
    def type_url(self) -> str:
        """The Any type URL this route serves."""
        return type_url(self.cls)
