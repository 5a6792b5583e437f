"""Continuous bank load at a bounded rate: a few accounts each send 1usyn in turn through whichever
node answers, and every tx reported committed is recorded with its height.

One thread per account keeps its own sequence (re-read from the chain after any failure), so a
node that is down, paused or cut off only costs that account a timeout. A tx counts as committed
when a node's /tx reports it in a block (with its result code); one that was accepted but not seen
within the wait is kept as pending and looked up again at the end (it may have committed later).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from app.client.accounts import get_account
from app.client.rpc import CometRPC, RpcError
from app.client.sender import SenderError, TxRejected, TxSender
from app.client.txbuilder import msg_send
from app.core.coins import Coins
from app.core.crypto import PrivateKey

__all__ = ["BankLoad", "Committed"]

_WAIT_SECONDS = 20.0
_BACKOFF_SECONDS = 0.5


@dataclass(frozen=True)
class Committed:
    """A tx a node reported in a block: its hash (upper-case hex), height and result code."""

    txhash: str
    height: int
    code: int
    via: int


@dataclass
class _Stats:
    sent: int = 0
    rejected: int = 0
    errors: int = 0
    committed: list[Committed] = field(default_factory=list)
    pending: set[str] = field(default_factory=set)


class BankLoad:
    """Sends from `keys` at about `rate` tx/s in total, through the nodes' RPCs, until stopped."""

    def __init__(
        self, rpc_urls: list[str], keys: list[PrivateKey], chain_id: str, rate: float, seed: int
    ) -> None:
        self.urls, self.keys, self.chain_id = rpc_urls, keys, chain_id
        self.interval = len(keys) / rate  # each account's share of the rate
        self.stats = _Stats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rng = random.Random(seed)
        self._threads = [
            threading.Thread(target=self._run, args=(k, i), daemon=True) for i, k in enumerate(keys)
        ]

    def start(self) -> None:
        """Start every account's thread."""
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop sending and wait for the threads (each finishes its current wait)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=_WAIT_SECONDS + 15)

    def committed(self) -> list[Committed]:
        """Every tx reported committed so far."""
        with self._lock:
            return list(self.stats.committed)

    def _record(self, item: Committed | None, pending: str | None = None, **counts: int) -> None:
        """Add an outcome under the lock."""
        with self._lock:
            if item is not None:
                self.stats.committed.append(item)
                self.stats.pending.discard(item.txhash)
            if pending:
                self.stats.pending.add(pending)
            for name, n in counts.items():
                setattr(self.stats, name, getattr(self.stats, name) + n)

    def _run(self, key: PrivateKey, offset: int) -> None:
        """One account's loop: sign the next send, broadcast through a random node, wait for it."""
        recipient = self.keys[(offset + 1) % len(self.keys)].address
        sequence: int | None = None
        with self._lock:
            rng = random.Random(self._rng.random())
        next_at = time.monotonic() + offset * self.interval / len(self.keys)
        while not self._stop.is_set():
            self._stop.wait(max(next_at - time.monotonic(), 0))
            next_at = max(next_at + self.interval, time.monotonic())
            via = rng.randrange(len(self.urls))
            sender = TxSender(CometRPC(self.urls[via], timeout=5), key, self.chain_id)
            try:
                if sequence is None:
                    sequence = _chain_sequence(sender)
                msgs = [msg_send(key.address, recipient, Coins.of([("usyn", 1)]))]
                txhash = sender.broadcast(sender.prepare(msgs, sequence=sequence))
            except (RpcError, SenderError, TxRejected, OSError):
                self._record(None, errors=1)
                sequence = None  # re-read from the chain: a tx may or may not have gone through
                self._stop.wait(_BACKOFF_SECONDS)
                continue
            self._record(None, pending=txhash, sent=1)
            sequence += 1
            try:
                found = sender.rpc.wait_for_tx(txhash, timeout=_WAIT_SECONDS)
            except (RpcError, OSError):
                sequence = None
                continue
            code = int(found["tx_result"].get("code", 0))
            self._record(Committed(txhash.upper(), int(found["height"]), code, via), rejected=int(code != 0))

    def settle_pending(self, rpc: CometRPC) -> int:
        """Look up the pending txs once more (they may have committed after their wait); return how many
        turned up."""
        with self._lock:
            pending = sorted(self.stats.pending)
        found = 0
        for txhash in pending:
            try:
                hit = rpc.tx(txhash)
            except RpcError:
                continue
            if hit is not None:
                found += 1
                code = int(hit["tx_result"].get("code", 0))
                self._record(Committed(txhash.upper(), int(hit["height"]), code, -1), rejected=int(code != 0))
        return found


def _chain_sequence(sender: TxSender) -> int:
    """The account's next sequence as the sender's node has it committed."""
    account = get_account(sender.rpc, sender.key.address)
    if account is None:
        raise SenderError(f"{sender.key.address} has no account yet")
    return int(account.sequence)
