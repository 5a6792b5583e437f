"""Build and sign transactions (off-chain: CLI, agents, tests)."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import any_pb2
from google.protobuf.message import Message

from app.core.coins import Coins
from app.core.crypto import PrivateKey
from app.core.msgs import type_url
from app.core.tx import encode_tx, sign_bytes
from synod.bank.v1 import tx_pb2 as bank_tx
from synod.base.v1 import coin_pb2
from synod.tx.v1 import tx_pb2

__all__ = ["DEFAULT_GAS", "build_tx", "msg_send", "pack_any", "coins_to_proto"]

DEFAULT_GAS = 200_000


def coins_to_proto(coins: Coins) -> list[coin_pb2.Coin]:
    """Coins as proto coins (amounts as decimal strings)."""
    return [coin_pb2.Coin(denom=d, amount=str(a)) for d, a in coins]


def pack_any(msg: Message) -> any_pb2.Any:
    """Wrap a message in Any with Synod's type URL form (`/synod.bank.v1.MsgSend`)."""
    return any_pb2.Any(type_url=type_url(type(msg)), value=msg.SerializeToString(deterministic=True))


def msg_send(from_address: str, to_address: str, amount: Coins) -> bank_tx.MsgSend:
    """A bank transfer."""
    return bank_tx.MsgSend(from_address=from_address, to_address=to_address, amount=coins_to_proto(amount))


def build_tx(
    key: PrivateKey,
    msgs: Sequence[Message],
    *,
    chain_id: str,
    account_number: int,
    sequence: int,
    fee: Coins,
    gas_limit: int = DEFAULT_GAS,
    memo: str = "",
    timeout_height: int = 0,
) -> bytes:
    """Encode and sign a transaction; returns the bytes to broadcast."""
    body = tx_pb2.TxBody(messages=[pack_any(m) for m in msgs], memo=memo, timeout_height=timeout_height)
    auth = tx_pb2.AuthInfo(
        public_key=key.public_key,
        sequence=sequence,
        fee=tx_pb2.Fee(amount=coins_to_proto(fee), gas_limit=gas_limit),
    )
    body_bytes = body.SerializeToString(deterministic=True)
    auth_bytes = auth.SerializeToString(deterministic=True)
    signature = key.sign(sign_bytes(body_bytes, auth_bytes, chain_id, account_number))
    return encode_tx(body_bytes, auth_bytes, signature)
