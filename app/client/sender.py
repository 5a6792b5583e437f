"""The one way to sign, broadcast and follow transactions, for the CLI and every agent: gas sized
from the message bytes unless given, the fee from the chain's min gas price unless given.

A transaction fails in one of two places, and both raise TxRejected with the chain's registered
(codespace, code): CheckTx (the node refused it into the mempool; nothing was charged) or the block
that included it (the fee was charged, the messages had no effect).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from app.client.accounts import get_account, get_auth_params
from app.client.rpc import CometRPC, RpcError
from app.client.txbuilder import DEFAULT_GAS, build_tx
from app.core.coins import Coins
from app.core.crypto import PrivateKey
from app.core.errors import ErrInvalidSequence
from app.core.gas import DEFAULT_GAS_CONFIG
from app.core.tx import decode_tx
from app.modules.auth.params import default_params
from synod.auth.v1 import auth_pb2

__all__ = [
    "SEQUENCE_RETRIES",
    "PreparedTx",
    "SenderError",
    "TxOutcome",
    "TxRejected",
    "TxSender",
    "compute_gas_limit",
]

TX_BYTE_GAS = default_params().tx_size_cost_per_byte
STORE_BYTE_GAS = DEFAULT_GAS_CONFIG.write_per_byte
MSG_GAS = 20_000
_MEMPOOL_DUPLICATE = "tx already exists in cache"
SEQUENCE_RETRIES = 5
_SEQUENCE_RETRY_SECONDS = 0.5


def compute_gas_limit(msgs: Sequence[Message]) -> int:
    """Gas for msgs: DEFAULT_GAS for the fixed work of one message and MSG_GAS for each further one,
    plus 1.5x (tx + store) byte costs of their bytes.

    Every byte of a message is paid once as tx bytes and, for payloads the chain keeps (updates,
    weights), once more as stored bytes; the 50% margin covers the envelope and the records
    written beside a payload. A further message pays its own reads and writes (a send to a new
    address creates its account and balance: about 8,000 gas).
    """
    size = sum(len(m.SerializeToString(deterministic=True)) for m in msgs)
    return DEFAULT_GAS + MSG_GAS * max(len(msgs) - 1, 0) + size * (TX_BYTE_GAS + STORE_BYTE_GAS) * 3 // 2


class SenderError(Exception):
    """A transaction could not be built or sent for a reason the user must fix (message says how)."""


class TxRejected(Exception):
    """The chain refused a transaction with a registered (codespace, code)."""

    def __init__(self, codespace: str, code: int, log: str, where: str) -> None:
        super().__init__(f"rejected in {where} (code {code}, {codespace}): {log}")
        self.codespace = codespace
        self.code = code
        self.log = log
        self.where = where

    def is_(self, codespace: str, code: int) -> bool:
        """True if this is the given registered error."""
        return (self.codespace, self.code) == (codespace, code)


@dataclass(frozen=True)
class PreparedTx:
    """A signed transaction ready to broadcast, with what it will cost."""

    raw: bytes
    gas: int
    fee: Coins
    chain_id: str

    @property
    def txhash(self) -> str:
        """CometBFT's name for it: upper-case hex SHA-256 of the bytes."""
        return hashlib.sha256(self.raw).hexdigest().upper()


@dataclass(frozen=True)
class TxOutcome:
    """An included transaction: the node's /tx answer."""

    found: dict[str, Any]

    @property
    def txhash(self) -> str:
        """The transaction hash."""
        return str(self.found["hash"])

    @property
    def height(self) -> int:
        """The block that included it."""
        return int(self.found["height"])

    def attribute(self, event_type: str, key: str) -> str | None:
        """The value of key in the first event_type event, if any."""
        for event in self.found["tx_result"].get("events") or []:
            if event["type"] == event_type:
                for attr in event.get("attributes") or []:
                    if attr["key"] == key:
                        return attr.get("value")
        return None


class TxSender:
    """Signs with one key and sends through one node; the account's sequence is read per tx."""

    def __init__(self, rpc: CometRPC, key: PrivateKey, chain_id: str | None = None) -> None:
        self.rpc = rpc
        self.key = key
        self._chain_id = chain_id

    @property
    def chain_id(self) -> str:
        """The chain id given, else the one the node reports."""
        if self._chain_id is None:
            self._chain_id = str(self.rpc.status()["node_info"]["network"])
        return self._chain_id

    def _account(self) -> auth_pb2.BaseAccount:
        """The signer's account (number and sequence), which must exist."""
        account = get_account(self.rpc, self.key.address)
        if account is None:
            raise SenderError(
                f"{self.key.address} has no account on chain {self.chain_id}: it must receive tokens "
                f"first, e.g. `synod tx bank send FUNDED_KEY {self.key.address} 10000000usyn`"
            )
        return account

    def prepare(
        self,
        msgs: Sequence[Message],
        gas: int | None = None,
        fees: Coins | None = None,
        memo: str = "",
        sequence: int | None = None,
    ) -> PreparedTx:
        """Sign msgs at the account's next sequence (or the one given: txs signed before it are
        still in the mempool); gas defaults to compute_gas_limit(msgs)."""
        account = self._account()
        if sequence is not None:
            account.sequence = sequence
        limit = compute_gas_limit(msgs) if gas is None else gas
        if fees is None:
            params = get_auth_params(self.rpc)
            fees = Coins.of([(params.fee_denom, limit * params.min_gas_price)])
        raw = build_tx(
            self.key,
            msgs,
            chain_id=self.chain_id,
            account_number=account.account_number,
            sequence=account.sequence,
            fee=fees,
            gas_limit=limit,
            memo=memo,
        )
        decode_tx(raw)  # our own encoding must pass the chain's strict decoder
        return PreparedTx(raw, limit, fees, self.chain_id)

    def broadcast(self, prepared: PreparedTx) -> str:
        """Submit to the mempool and return the hash; an identical tx already there counts as sent."""
        try:
            checked = self.rpc.broadcast_tx_sync(prepared.raw)
        except RpcError as e:
            if _MEMPOOL_DUPLICATE in str(e):
                return prepared.txhash
            raise
        if int(checked["code"]):
            raise TxRejected(
                checked.get("codespace", ""), int(checked["code"]), checked.get("log", ""), "CheckTx"
            )
        return str(checked["hash"])

    def wait(self, txhash: str, timeout: float = 20.0) -> TxOutcome:
        """Wait for inclusion; a failure in the block raises TxRejected."""
        outcome = TxOutcome(self.rpc.wait_for_tx(txhash, timeout=timeout))
        result = outcome.found["tx_result"]
        if int(result.get("code", 0)):
            where = f"block {outcome.height}"
            raise TxRejected(result.get("codespace", ""), int(result["code"]), result.get("log", ""), where)
        return outcome

    def send(self, msgs: Sequence[Message], timeout: float = 20.0, gas: int | None = None) -> TxOutcome:
        """Prepare, broadcast and wait for inclusion.

        Another process signing with the same key (a validator's node posts its DKG messages with
        its operator key, which the demo and the committee agent use too) can take the sequence
        first: CheckTx then refuses ours, charging nothing, and it is signed again at the sequence
        the chain reports, up to SEQUENCE_RETRIES times.
        """
        for attempt in range(SEQUENCE_RETRIES + 1):
            try:
                txhash = self.broadcast(self.prepare(msgs, gas))
            except TxRejected as e:
                if (
                    not e.is_(ErrInvalidSequence.codespace, ErrInvalidSequence.code)
                    or attempt == SEQUENCE_RETRIES
                ):
                    raise
                time.sleep(_SEQUENCE_RETRY_SECONDS)
                continue
            return self.wait(txhash, timeout)
        raise AssertionError("unreachable")

    def send_in_order(
        self, txs: Sequence[tuple[Sequence[Message], int | None]], timeout: float = 20.0
    ) -> list[TxOutcome]:
        """Send several txs (msgs, gas) at consecutive sequences without waiting between them (the
        mempool checks each against the one before), then wait for each; the first failure raises."""
        start = self._account().sequence
        hashes = [
            self.broadcast(self.prepare(msgs, gas, sequence=start + i)) for i, (msgs, gas) in enumerate(txs)
        ]
        return [self.wait(txhash, timeout) for txhash in hashes]
