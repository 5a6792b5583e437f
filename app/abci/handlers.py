"""The ABCI adapter: the 16 ABCI 2.0 methods, in lifecycle order, translated to SynodApp calls.

This is the only place that speaks `tendermint.abci`. Every enum answered is a valid non-zero value
(status 0 from ProcessProposal or VerifyVoteExtension makes CometBFT panic).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from app.abci.answers import AnswerBook, AnswerWatcher
from app.abci.query import answer_query, pin_query
from app.app import BlockResult, SynodApp, TxResult
from app.core import bls, threshold, voteext
from app.core.events import Event
from app.modules.committee import beacon
from app.modules.committee.errors import ErrBadBeacon
from app.modules.consensus import ensemble
from app.modules.slashing.types import DUPLICATE_VOTE, LIGHT_CLIENT_ATTACK, Misbehavior, VoteInfo
from app.state.snapshots import SnapshotInfo, SnapshotManager
from tendermint.abci import types_pb2 as abci
from tendermint.crypto import keys_pb2
from tendermint.types import validator_pb2

__all__ = ["AbciHandlers", "APP_VERSION", "compute_retain_height"]

log = logging.getLogger("synod.abci")

# Reported in Info and checked against the block header's app version.
APP_VERSION = 1


def _events(events: list[Event]) -> list[abci.Event]:
    """Convert our events to ABCI events (all attributes indexed)."""
    return [
        abci.Event(
            type=e.type,
            attributes=[abci.EventAttribute(key=k, value=v, index=True) for k, v in e.attributes],
        )
        for e in events
    ]


def _validator_updates(updates: list[tuple[bytes, int]]) -> list[abci.ValidatorUpdate]:
    """(ed25519 pubkey, power) pairs as ABCI validator updates."""
    return [abci.ValidatorUpdate(pub_key=keys_pb2.PublicKey(ed25519=pk), power=p) for pk, p in updates]


_MISBEHAVIOR_KINDS = {
    abci.DUPLICATE_VOTE: DUPLICATE_VOTE,
    abci.LIGHT_CLIENT_ATTACK: LIGHT_CLIENT_ATTACK,
}


def _misbehavior(req: abci.RequestFinalizeBlock) -> list[Misbehavior]:
    """Evidence in the block, in CometBFT's order."""
    return [
        Misbehavior(
            kind=_MISBEHAVIOR_KINDS.get(m.type, "UNKNOWN"),
            address=m.validator.address,
            power=m.validator.power,
            height=m.height,
            time_seconds=m.time.seconds,
        )
        for m in req.misbehavior
    ]


def _votes(req: abci.RequestFinalizeBlock) -> list[VoteInfo]:
    """Who signed the previous block: ABSENT is a miss; NIL counts as signed."""
    return [
        VoteInfo(
            address=v.validator.address,
            power=v.validator.power,
            signed=v.block_id_flag != validator_pb2.BLOCK_ID_FLAG_ABSENT,
        )
        for v in req.decided_last_commit.votes
    ]


def _commit_votes(votes: Iterable[abci.VoteInfo | abci.ExtendedVoteInfo]) -> list[beacon.CommitVote]:
    """The last commit as the beacon reads it: power, COMMIT flag and (PrepareProposal) extension."""
    return [
        beacon.CommitVote(
            address=v.validator.address,
            power=v.validator.power,
            committed=v.block_id_flag == validator_pb2.BLOCK_ID_FLAG_COMMIT,
            extension=getattr(v, "vote_extension", b""),
            signature=getattr(v, "extension_signature", b""),
        )
        for v in votes
    ]


def _exec_result(r: TxResult) -> abci.ExecTxResult:
    """A FinalizeBlock tx result."""
    return abci.ExecTxResult(
        code=r.code,
        codespace=r.codespace,
        log=r.log,
        gas_wanted=r.gas_wanted,
        gas_used=r.gas_used,
        events=_events(r.events),
    )


def compute_retain_height(height: int, retain_blocks: int, oldest_snapshot: int | None) -> int:
    """ResponseCommit.retain_height after Commit of `height`: CometBFT may prune blocks below it.

    0 (retain_blocks 0) keeps every block. Otherwise the last retain_blocks blocks stay, and never
    one at or above the oldest snapshot this node serves or is writing: a peer restoring it fetches
    the light blocks from its height on and then block-syncs the blocks after it. The answer never
    decreases while the settings stay (a newer snapshot only ever replaces an older one), and CometBFT
    ignores a retain height at or below what it already pruned.
    """
    if retain_blocks <= 0:
        return 0
    retain = height - retain_blocks + 1
    if oldest_snapshot is not None:
        retain = min(retain, oldest_snapshot)
    return max(retain, 0)


class AbciHandlers:
    """One method per ABCI request, each documented with when CometBFT calls it."""

    def __init__(
        self,
        app: SynodApp,
        version: str = "0.1.0",
        snapshots: SnapshotManager | None = None,
        bls_secret: bytes | None = None,
        ensemble_dir: Path | None = None,
        retain_blocks: int = 0,
    ) -> None:
        self.app = app
        # How many recent blocks CometBFT keeps (0: all); see compute_retain_height.
        self.retain_blocks = retain_blocks
        self.version = version
        self.snapshots = snapshots
        # The node's beacon key (config/bls_key.json); without one its vote extensions are empty.
        self.bls_secret = bls_secret
        # This node's shares of the threshold groups' secrets, by group id, set by the DKG task
        # (app/node/dkgtask.py). Once a group serves, extensions carry the share on the epoch message.
        self.group_shares: dict[int, int] = {}
        # The sidecar's answers (DIR/QUERY_ID.bin), loaded off the ABCI loop by a watcher thread
        # (app/abci/answers.py; None: no fast-path model). start()/stop() run the thread.
        self.answers = AnswerBook()
        self.watcher = AnswerWatcher(ensemble_dir, self.answers) if ensemble_dir is not None else None

    def start(self) -> None:
        """Start the background work the handlers read from (the ensemble answer watcher)."""
        if self.watcher is not None:
            self.answers.set_pending(self.app.pending_fast_queries())
            self.watcher.start()

    def stop(self) -> None:
        """Stop the background work (on shutdown)."""
        if self.watcher is not None:
            self.watcher.stop()

    # --- info/query connection --------------------------------------------------------------

    def echo(self, req: abci.RequestEcho) -> abci.ResponseEcho:
        """Connection check: echo the message."""
        return abci.ResponseEcho(message=req.message)

    def flush(self, req: abci.RequestFlush) -> abci.ResponseFlush:
        """Answered in order after all earlier requests; the server then writes out its buffer."""
        return abci.ResponseFlush()

    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        """At start-up (handshake): report the last *committed* height and app hash for replay."""
        height, app_hash = self.app.info()
        return abci.ResponseInfo(
            data="synod",
            version=self.version,
            app_version=APP_VERSION,
            last_block_height=height,
            last_block_app_hash=app_hash if height else b"",
        )

    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        """Read committed state (never the block being executed): `/store` or a module query service
        path; `prove` adds Merkle proofs against the answered height (app/abci/query.py)."""
        return answer_query(self.app.store, req)

    def pin_query(self, req: abci.RequestQuery) -> Callable[[], abci.ResponseQuery]:
        """Query, in two steps (the server runs the first under its app lock, the second in a worker
        thread): pin committed state now, and return the work that answers from it."""
        return pin_query(self.app.store, req)

    # --- mempool connection -------------------------------------------------------------------

    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        """Before a tx enters the mempool (NEW) and again after each Commit (RECHECK)."""
        if beacon.is_beacon_tx(req.tx) or ensemble.is_ensemble_tx(req.tx):
            return abci.ResponseCheckTx(
                code=ErrBadBeacon.code,
                codespace=ErrBadBeacon.codespace,
                log="beacon and ensemble transactions are built by the block proposer from vote "
                "extensions; they cannot be submitted",
            )
        r = self.app.check_tx(req.tx, recheck=req.type == abci.CheckTxType.RECHECK)
        return abci.ResponseCheckTx(
            code=r.code,
            codespace=r.codespace,
            log=r.log,
            gas_wanted=r.gas_wanted,
            gas_used=r.gas_used,
            events=_events(r.events),
        )

    # --- consensus connection -----------------------------------------------------------------

    def init_chain(self, req: abci.RequestInitChain) -> abci.ResponseInitChain:
        """Once, at genesis: stage the app state; the validators come from genesis.json."""
        app_hash, validators = self.app.init_chain(
            req.chain_id,
            req.app_state_bytes,
            req.initial_height or 1,
            req.consensus_params.abci.vote_extensions_enable_height,
            req.consensus_params.block.max_bytes,
            req.consensus_params.evidence.max_bytes,
        )
        # An empty list keeps genesis.json's validators; staking genesis validators replace them.
        return abci.ResponseInitChain(app_hash=app_hash, validators=_validator_updates(validators))

    def prepare_proposal(self, req: abci.RequestPrepareProposal) -> abci.ResponsePrepareProposal:
        """When this node proposes: the beacon tx from local_last_commit's extensions first (once
        extensions are on), then mempool order within the block's byte budget."""
        txs = self.app.prepare_proposal(
            req.height,
            list(req.txs),
            req.max_tx_bytes,
            _commit_votes(req.local_last_commit.votes),
            req.local_last_commit.round,
        )
        return abci.ResponsePrepareProposal(txs=txs)

    def process_proposal(self, req: abci.RequestProcessProposal) -> abci.ResponseProcessProposal:
        """On every validator for each proposal: reject a wrong or missing beacon tx. Other invalid
        txs fail in FinalizeBlock, so they do not make a proposal invalid."""
        reason = self.app.process_proposal(
            req.height,
            list(req.txs),
            _commit_votes(req.proposed_last_commit.votes),
            req.proposed_last_commit.round,
        )
        if reason is None:
            return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)
        log.warning("rejecting the proposal for height %d: %s", req.height, reason)
        return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.REJECT)

    def extend_vote(self, req: abci.RequestExtendVote) -> abci.ResponseExtendVote:
        """When this validator precommits a block (extensions on): its beacon share (its threshold share
        on the epoch message once a group serves, else its BLS signature on the height) and
        its model's answers to pending fast queries, as the watcher has loaded them so far (never
        waiting: an answer not loaded yet goes in a later extension)."""
        share = b""
        group, pending = self.app.pending_beacon_epoch(req.height)
        if group is not None:
            own = self.group_shares.get(group.id)
            if pending is not None and own is not None:
                share = threshold.sign_share(own, pending.message)
        elif self.bls_secret is not None:
            share = bls.sign(self.bls_secret, beacon.compute_share_message(self.app.chain_id, req.height))
        answers = []
        if self.watcher is not None:
            pending = self.app.pending_fast_queries()
            self.answers.set_pending(pending)
            limit = self.app.consensus.get_params(self.app.store.view).max_extension_answers
            answers = self.answers.get_answers(pending, limit)
        return abci.ResponseExtendVote(vote_extension=voteext.encode_vote_extension(share, answers))

    def verify_vote_extension(self, req: abci.RequestVerifyVoteExtension) -> abci.ResponseVerifyVoteExtension:
        """For each other validator's precommit of the current height: a member must send its valid
        share (else its precommit is dropped, and it is absent); others nothing or a well-formed share."""
        valid = self.app.verify_vote_extension(req.validator_address, req.height, req.vote_extension)
        status = abci.ResponseVerifyVoteExtension.ACCEPT if valid else abci.ResponseVerifyVoteExtension.REJECT
        return abci.ResponseVerifyVoteExtension(status=status)

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        """For each decided block (and again on replay): execute and stage, never persist."""
        result: BlockResult = self.app.finalize_block(
            req.height,
            list(req.txs),
            req.time.seconds,
            req.time.nanos,
            _misbehavior(req),
            _votes(req),
            last_commit=_commit_votes(req.decided_last_commit.votes),
        )
        return abci.ResponseFinalizeBlock(
            tx_results=[_exec_result(r) for r in result.tx_results],
            events=_events(result.events),
            app_hash=result.app_hash,
            validator_updates=_validator_updates(result.validator_updates),
        )

    def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        """After FinalizeBlock, with the mempool locked: persist atomically; tell CometBFT which
        blocks it may prune (compute_retain_height)."""
        height = self.app.commit()
        if self.watcher is not None:
            # The watcher looks for the new block's fast queries from now, before the next ExtendVote.
            self.answers.set_pending(self.app.pending_fast_queries())
        oldest = None
        if self.snapshots is not None:
            self.snapshots.maybe_snapshot(height)  # returns at once; serialization runs off-thread
            oldest = self.snapshots.get_oldest_height()
        return abci.ResponseCommit(retain_height=compute_retain_height(height, self.retain_blocks, oldest))

    # --- snapshot connection: state sync (app/state/snapshots.py) -------------------------

    def list_snapshots(self, req: abci.RequestListSnapshots) -> abci.ResponseListSnapshots:
        """When a syncing peer asks what we can serve: our recent complete snapshots."""
        if self.snapshots is None:
            return abci.ResponseListSnapshots()
        return abci.ResponseListSnapshots(
            snapshots=[
                abci.Snapshot(
                    height=s.height, format=s.format, chunks=s.chunks, hash=s.hash, metadata=s.metadata
                )
                for s in self.snapshots.list_snapshots()
            ]
        )

    def offer_snapshot(self, req: abci.RequestOfferSnapshot) -> abci.ResponseOfferSnapshot:
        """On a node state-syncing: accept a snapshot whose app hash the light client trusts."""
        if self.snapshots is None:
            return abci.ResponseOfferSnapshot(result=abci.ResponseOfferSnapshot.REJECT)
        s = req.snapshot
        info = SnapshotInfo(s.height, s.format, s.chunks, s.hash, s.metadata)
        return abci.ResponseOfferSnapshot(result=self.snapshots.offer(info, req.app_hash))

    def load_snapshot_chunk(self, req: abci.RequestLoadSnapshotChunk) -> abci.ResponseLoadSnapshotChunk:
        """When a syncing peer fetches a chunk of one of our snapshots."""
        if self.snapshots is None:
            return abci.ResponseLoadSnapshotChunk()
        return abci.ResponseLoadSnapshotChunk(
            chunk=self.snapshots.load_chunk(req.height, req.format, req.chunk)
        )

    def apply_snapshot_chunk(self, req: abci.RequestApplySnapshotChunk) -> abci.ResponseApplySnapshotChunk:
        """On a node state-syncing, per chunk in order; the last one rebuilds and checks the state."""
        if self.snapshots is None:
            return abci.ResponseApplySnapshotChunk(result=abci.ResponseApplySnapshotChunk.ABORT)
        result, refetch, reject = self.snapshots.apply_chunk(req.index, req.chunk, req.sender)
        return abci.ResponseApplySnapshotChunk(result=result, refetch_chunks=refetch, reject_senders=reject)
