"""The node's DKG task: it runs this validator's side of every DKG by itself.

Started beside the ABCI server in the app process (app/node/run.py). Every poll it reads the
committed DKG state (the committee keeper over the app's committed view, as its queries do) and,
where this node's validator is a participant, posts with its operator key (the keyring's
`validator` key in the node home):

- its MsgDeal in the deal phase (deterministic: a restart re-deals the same bytes);
- a MsgComplain against each dealing whose share to it does not open or does not match;
- a MsgJustify for each open complaint against its own dealing.

Once a group forms, it sums its group share from the dealings (and any justified reveals), hands
it to the ABCI handlers (ExtendVote signs each epoch's message with it) and keeps it in
data/dkg_shares.json (0600) so a restart keeps signing after the dealings are pruned.

Transactions are broadcast from a worker thread: CheckTx is answered by this same event loop, so
a blocking call from it would deadlock. The demo and the committee agents sign with the same key,
so a stale sequence is expected: the task re-reads the account and retries on the next poll, and
no failure ever stops the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from google.protobuf.message import Message

from app.abci.handlers import AbciHandlers
from app.client import dkg as client_dkg
from app.client.accounts import get_account
from app.client.rpc import CometRPC
from app.client.sender import TxSender
from app.core.crypto import PrivateKey
from app.modules.committee import dkg as dkg_rules
from app.modules.committee.keeper import CommitteeKeeper
from app.state.kv import KVReader
from synod.committee.v1 import committee_pb2

__all__ = ["DkgTask", "load_group_shares"]

log = logging.getLogger("synod.dkg")

POLL_SECONDS = 0.5
# A tx sent but not on chain after this many blocks is sent again (dropped, or a sequence race).
_RESEND_BLOCKS = 3


def load_group_shares(path: Path) -> dict[int, int]:
    """The group shares kept in path ({group id: share}); empty if there is no file."""
    if not path.exists():
        return {}
    raw = json.loads(path.read_text())
    return {int(k): int(v, 16) for k, v in raw.items()}


def _save_group_shares(path: Path, shares: dict[int, int]) -> None:
    """Write the shares (0600, replaced atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({str(k): format(v, "x") for k, v in sorted(shares.items())}, f)
    os.replace(tmp, path)


class DkgTask:
    """Polls committed state and posts this validator's DKG messages."""

    def __init__(
        self,
        handlers: AbciHandlers,
        bls_secret: bytes,
        operator_key: PrivateKey,
        rpc_address: str,
        shares_path: Path,
    ) -> None:
        self.handlers = handlers
        self.app = handlers.app
        self.bls_secret = bls_secret
        self.operator = operator_key.address
        self.sender = TxSender(CometRPC(rpc_address), operator_key)
        self.shares_path = shares_path
        self.handlers.group_shares.update(load_group_shares(shares_path))
        self.sent: dict[tuple, int] = {}  # (kind, dkg id, other index) -> height it was sent at
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dkg-send")
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Run the poll loop on the current event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop polling; let a broadcast in flight finish."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.pool.shutdown(wait=True)

    async def _run(self) -> None:
        """Poll forever; log and carry on after any failure."""
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the node must keep running whatever one poll met
                log.warning("DKG task: %s", e)
            await asyncio.sleep(POLL_SECONDS)

    async def poll(self) -> None:
        """One look at committed state: post what is due, pick up new group shares."""
        view = self.app.store.view
        k = self.app.committee
        height = self.app.store.height
        self._pick_up_shares(view, k)
        dkg = k.get_dkg(view)
        if dkg is None:
            return
        index = client_dkg.get_member_index(dkg, self.operator)
        if index is None:
            return
        phase = dkg_rules.compute_phase(dkg, k.get_params(view).dkg_phase_blocks, height + 1)
        msgs: list[tuple[tuple, Message]] = []
        if phase == dkg_rules.DEAL and k.get_dealing(view, dkg.id, index) is None:
            deal = await asyncio.get_running_loop().run_in_executor(
                self.pool, client_dkg.msg_deal, self.operator, self.bls_secret, self.app.chain_id, dkg
            )
            msgs.append((("deal", dkg.id, 0), deal))
        elif phase == dkg_rules.COMPLAIN:
            msgs += self._complaints(view, k, dkg, index)
        elif phase == dkg_rules.JUSTIFY:
            msgs += self._justifications(view, k, dkg, index)
        due = [(key, m) for key, m in msgs if height - self.sent.get(key, -_RESEND_BLOCKS) >= _RESEND_BLOCKS]
        if due:
            await asyncio.get_running_loop().run_in_executor(self.pool, self._send, [m for _, m in due])
            for key, _ in due:
                self.sent[key] = height

    def _complaints(
        self, view: KVReader, k: CommitteeKeeper, dkg: committee_pb2.Dkg, index: int
    ) -> list[tuple[tuple, Message]]:
        """A complaint against each dealing whose share to this member is bad, not yet filed."""
        out: list[tuple[tuple, Message]] = []
        for dealing in k.iterate_dealings(view, dkg.id):
            if dealing.dealer == index or k.get_complaint(view, dkg.id, dealing.dealer, index) is not None:
                continue
            if client_dkg.open_dealing(self.bls_secret, index, dealing) is None:
                log.warning("DKG %d: dealer %d's share to us is bad; complaining", dkg.id, dealing.dealer)
                msg = client_dkg.msg_complain(self.operator, dkg.id, dealing.dealer)
                out.append((("complain", dkg.id, dealing.dealer), msg))
        return out

    def _justifications(
        self, view: KVReader, k: CommitteeKeeper, dkg: committee_pb2.Dkg, index: int
    ) -> list[tuple[tuple, Message]]:
        """An answer to each open complaint against this member's dealing."""
        out: list[tuple[tuple, Message]] = []
        for complaint in k.iterate_complaints(view, dkg.id):
            if complaint.dealer == index and not complaint.justified:
                msg = client_dkg.msg_justify(
                    self.operator, self.bls_secret, self.app.chain_id, dkg, complaint.complainer
                )
                out.append((("justify", dkg.id, complaint.complainer), msg))
        return out

    def _pick_up_shares(self, view: KVReader, k: CommitteeKeeper) -> None:
        """Compute this member's share of each group it belongs to and does not hold yet."""
        for previous in (False, True):
            group = k.get_group(view, previous=previous)
            if group is None or group.id in self.handlers.group_shares:
                continue
            index = client_dkg.get_member_index(group, self.operator)
            if index is None:
                continue
            received = {}
            for dealing in k.iterate_dealings(view, group.id):
                share = client_dkg.open_dealing(self.bls_secret, index, dealing)
                if share is not None:
                    received[dealing.dealer] = share
            own = client_dkg.compute_group_share(group, received, k.iterate_complaints(view, group.id), index)
            if own is None:
                log.warning("group %d formed but this node cannot sum its share (dealings pruned?)", group.id)
                continue
            self.handlers.group_shares[group.id] = own
            _save_group_shares(self.shares_path, self.handlers.group_shares)
            log.info("group %d: holding share %d of %d", group.id, index, len(group.members))

    def _send(self, msgs: list[Message]) -> None:
        """Broadcast each message in its own tx, at consecutive sequences from the one the chain
        reports now (worker thread).

        A failure (a stale sequence because the demo or an agent signed with this key meanwhile, a
        node not up yet) is logged, not raised: the next poll re-derives what is still missing and
        sends it again at the sequence the chain then reports.
        """
        try:
            account = get_account(self.sender.rpc, self.operator)
            first = account.sequence if account is not None else 0
            for i, msg in enumerate(msgs):
                self.sender.broadcast(self.sender.prepare([msg], sequence=first + i))
        except Exception as e:
            log.info("DKG txs not accepted yet (%s); retrying on a later poll", e)
