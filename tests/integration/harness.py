"""Drive SynodApp through its ABCI handlers, as CometBFT would, with deterministic keys."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from google.protobuf.timestamp_pb2 import Timestamp

from app.abci.handlers import AbciHandlers
from app.app import SynodApp
from app.client.txbuilder import DEFAULT_GAS, build_tx, msg_send
from app.core.coins import Coins
from app.core.crypto import PrivateKey
from app.state.backend import Backend, MemoryBackend
from tendermint.abci import types_pb2 as abci

CHAIN_ID = "synod-test"
GENESIS_TIME = 1_700_000_000
DENOM = "usyn"


def test_key(name: str) -> PrivateKey:
    """A deterministic key per name."""
    return PrivateKey.from_seed(hashlib.sha256(b"synod-test-key:" + name.encode()).digest())


test_key.__test__ = False  # a helper, not a test, whatever pytest's name matching says


def genesis_app_state(balances: dict[str, int]) -> bytes:
    """app_state JSON funding each named test key."""
    return json.dumps(
        {
            "bank": {
                "balances": [
                    {"address": test_key(n).address, "coins": [{"denom": DENOM, "amount": str(a)}]}
                    for n, a in sorted(balances.items())
                ]
            }
        }
    ).encode()


@dataclass
class Chain:
    """A single-node chain driven block by block through the ABCI handlers."""

    backend: Backend = field(default_factory=MemoryBackend)
    check_invariants: bool = True
    height: int = 0

    def __post_init__(self) -> None:
        self.app = SynodApp(self.backend, check_invariants=self.check_invariants)
        self.abci = AbciHandlers(self.app)
        self.sequences: dict[str, int] = {}
        self.fees_paid: dict[str, int] = {}  # by Chain.tx, which pays gas x 1usyn

    def init(self, balances: dict[str, int]) -> bytes:
        """InitChain with funded test keys and an empty block 1; returns the genesis app hash."""
        resp = self.abci.init_chain(
            abci.RequestInitChain(
                chain_id=CHAIN_ID,
                app_state_bytes=genesis_app_state(balances),
                initial_height=1,
                time=Timestamp(seconds=GENESIS_TIME),
            )
        )
        self.block([])
        return resp.app_hash

    def finalize(self, txs: list[bytes]) -> abci.ResponseFinalizeBlock:
        """FinalizeBlock for the next height (no Commit)."""
        h = self.app.store.height + 1
        return self.abci.finalize_block(
            abci.RequestFinalizeBlock(
                height=h, txs=txs, time=Timestamp(seconds=GENESIS_TIME + h, nanos=h * 1000)
            )
        )

    def block(self, txs: list[bytes]) -> abci.ResponseFinalizeBlock:
        """FinalizeBlock + Commit."""
        resp = self.finalize(txs)
        self.abci.commit(abci.RequestCommit())
        return resp

    def resync_sequences(self) -> None:
        """Reload tracked sequences from committed state (a tx that failed before the ante left none)."""
        from app.core.crypto import decode_address

        for name in self.sequences:
            acc = self.app.auth.get_account(self.app.store.view, decode_address(test_key(name).address))
            self.sequences[name] = acc.sequence if acc is not None else 0

    def account_number(self, name: str) -> int:
        """Account number of a test key from committed state."""
        from app.core.crypto import decode_address

        acc = self.app.auth.get_account(self.app.store.view, decode_address(test_key(name).address))
        assert acc is not None, f"{name} has no account"
        return acc.account_number

    def send(
        self, sender: str, recipient_address: str, amount: int, *, sequence: int | None = None, **kw
    ) -> bytes:
        """A signed MsgSend from a test key, tracking sequences locally."""
        seq = self.sequences.get(sender, 0) if sequence is None else sequence
        self.sequences[sender] = seq + 1
        key = test_key(sender)
        kw.setdefault("fee", Coins.of([(DENOM, DEFAULT_GAS)]))
        kw.setdefault("chain_id", CHAIN_ID)
        if "account_number" not in kw:
            kw["account_number"] = self.account_number(sender)
        return build_tx(
            key,
            [msg_send(key.address, recipient_address, Coins.of([(DENOM, amount)]))],
            sequence=seq,
            **kw,
        )

    def tx(self, sender: str, msgs: list, gas: int = DEFAULT_GAS) -> bytes:
        """A signed tx of any messages from a test key, paying gas x 1usyn, tracking sequences."""
        seq = self.sequences.get(sender, 0)
        self.sequences[sender] = seq + 1
        self.fees_paid[sender] = self.fees_paid.get(sender, 0) + gas
        return build_tx(
            test_key(sender),
            msgs,
            chain_id=CHAIN_ID,
            account_number=self.account_number(sender),
            sequence=seq,
            fee=Coins.of([(DENOM, gas)]),
            gas_limit=gas,
        )

    def balance(self, address: str) -> int:
        """Committed usyn balance."""
        from app.core.crypto import decode_address

        return self.app.bank.get_balance(self.app.store.view, decode_address(address), DENOM)
