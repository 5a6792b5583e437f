"""The Synod application: module wiring, transaction pipeline, block lifecycle and queries.

Pure state machine: no network, clock, randomness or floats. The ABCI adapter (app/abci) calls
these methods in CometBFT's order; every method here is deterministic in (committed state, input).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from app.core.codec import from_u64be, u64be
from app.core.context import BlockInfo, Context
from app.core.errors import (
    UNKNOWN_CODE,
    ErrNotInitialized,
    ErrTxTooLarge,
    ErrUnauthorized,
    ErrUnknownMessage,
    SynodError,
)
from app.core.events import Event, EventManager
from app.core.gas import DEFAULT_GAS_CONFIG, INFINITE_GAS, GasMeter
from app.core.msgs import MsgRoute
from app.core.recheck import RecheckMemo
from app.core.tx import DecodedTx, compute_tx_hash, decode_tx, parse_canonical
from app.core.txcache import DecodedCache, SignatureVerdicts
from app.modules.auth import genesis as auth_genesis
from app.modules.auth import keys as auth_keys
from app.modules.auth import logic as auth_logic
from app.modules.auth.ante import FEE_COLLECTOR, run_ante
from app.modules.auth.keeper import AuthKeeper
from app.modules.bank import genesis as bank_genesis
from app.modules.bank import keys as bank_keys
from app.modules.bank import msg_server as bank_msgs
from app.modules.bank.invariants import check_supply
from app.modules.bank.keeper import BankKeeper
from app.modules.committee import beacon
from app.modules.committee import genesis as committee_genesis
from app.modules.committee import keys as committee_keys
from app.modules.committee import msg_server as committee_msgs
from app.modules.committee.hooks import CommitteeJudge
from app.modules.committee.invariants import check_member_count
from app.modules.committee.keeper import CommitteeKeeper
from app.modules.consensus import ensemble
from app.modules.consensus import genesis as consensus_genesis
from app.modules.consensus import keys as consensus_keys
from app.modules.consensus import msg_server as consensus_msgs
from app.modules.consensus.hooks import ConsensusHooks
from app.modules.consensus.invariants import check_escrow as check_consensus_escrow
from app.modules.consensus.keeper import CONSENSUS_ESCROW, ConsensusKeeper
from app.modules.slashing import genesis as slashing_genesis
from app.modules.slashing import hooks as slashing_hooks
from app.modules.slashing import keys as slashing_keys
from app.modules.slashing.keeper import SlashingKeeper
from app.modules.slashing.types import Misbehavior, VoteInfo
from app.modules.staking import genesis as staking_genesis
from app.modules.staking import keys as staking_keys
from app.modules.staking import msg_server as staking_msgs
from app.modules.staking.invariants import check_bonded_pool, check_shares
from app.modules.staking.keeper import BONDED_POOL, StakingKeeper
from app.modules.tasks import genesis as tasks_genesis
from app.modules.tasks import hooks as tasks_hooks
from app.modules.tasks import keys as tasks_keys
from app.modules.tasks import msg_server as tasks_msgs
from app.modules.tasks.expected import UpdateJudge
from app.modules.tasks.invariants import check_escrow
from app.modules.tasks.keeper import TASKS_ESCROW, TasksKeeper
from app.state.backend import Backend
from app.state.kv import Branch, GasKV, KVReader, RecordingBranch
from app.state.store import CommitStore
from synod.auth.v1 import auth_pb2
from synod.consensus.v1 import consensus_pb2

__all__ = ["SynodApp", "TxResult", "BlockResult", "MODULE_ACCOUNTS", "GenesisError"]

log = logging.getLogger("synod.app")

# Keyless escrow accounts, one per purpose (later modules add theirs here).
MODULE_ACCOUNTS = (FEE_COLLECTOR, BONDED_POOL, TASKS_ESCROW, CONSENSUS_ESCROW)

# Store prefixes: 0x00 is the app's own metadata; each module owns one byte. Checked at start-up.
APP_PREFIX = b"\x00"
_CHAIN_ID_KEY = APP_PREFIX + b"chain_id"
# CometBFT's vote_extensions_enable_height from InitChain (at least the initial height), u64be;
# absent while extensions are off. Consensus params never change here (no param updates are returned).
_VOTE_EXTENSIONS_KEY = APP_PREFIX + b"vote_extensions_height"
# CometBFT v0.38 block limits (types/block.go): max_bytes -1 means MaxBlockSizeBytes; a block's
# header and framing (MaxHeaderBytes 626 + MaxOverheadForBlock 11 + MaxCommitOverheadBytes 94) and
# one commit signature per validator (MaxCommitSigBytes) come out of max_bytes before the txs.
_COMET_MAX_BLOCK_BYTES = 104_857_600
_COMET_BLOCK_OVERHEAD = 626 + 11 + 94
_COMET_COMMIT_SIG_BYTES = 109
# One beacon entry: a 20-byte address and a 96-byte share with their framing, rounded up.
_BEACON_ENTRY_BYTES = 160
MODULE_KEYS = {
    "auth": auth_keys,
    "bank": bank_keys,
    "staking": staking_keys,
    "slashing": slashing_keys,
    "tasks": tasks_keys,
    "committee": committee_keys,
    "consensus": consensus_keys,
}
STORE_PREFIXES = {"app": APP_PREFIX, **{name: keys.STORE_PREFIX for name, keys in MODULE_KEYS.items()}}
# Genesis is applied in this order: accounts, then balances, then bonds taken from balances.
GENESIS_MODULES = ("auth", "bank", "staking", "slashing", "tasks", "committee", "consensus")


class GenesisError(ValueError):
    """The app_state in genesis.json is invalid; the message names the module and field."""


@dataclass
class TxResult:
    """The outcome of one transaction, as CheckTx and FinalizeBlock report it."""

    code: int = 0
    codespace: str = ""
    log: str = ""
    gas_wanted: int = 0
    gas_used: int = 0
    events: list[Event] = field(default_factory=list)

    @classmethod
    def failure(cls, err: SynodError, gas_wanted: int, gas_used: int) -> TxResult:
        """A failed result carrying the registered code."""
        return cls(err.code, err.codespace, str(err), gas_wanted, gas_used)


@dataclass
class BlockResult:
    """The outcome of FinalizeBlock; validator updates are (ed25519 pubkey, power), effective at H+2."""

    tx_results: list[TxResult]
    events: list[Event]
    app_hash: bytes
    validator_updates: list[tuple[bytes, int]] = field(default_factory=list)


def _find_collision(prefixes: dict[str, bytes]) -> str | None:
    """Name a pair whose prefixes overlap (one is a prefix of the other), if any."""
    items = sorted(prefixes.items())
    for i, (name, prefix) in enumerate(items):
        for other, other_prefix in items[i + 1 :]:
            if prefix.startswith(other_prefix) or other_prefix.startswith(prefix):
                return f"{name} and {other}"
    return None


def _check_prefixes() -> None:
    """No two modules share a store prefix, and no two tables of a module share a table prefix."""
    clash = _find_collision(STORE_PREFIXES)
    if clash:
        raise RuntimeError(f"store prefixes collide: {clash}")
    for module, keys in MODULE_KEYS.items():
        clash = _find_collision(keys.TABLES)
        if clash:
            raise RuntimeError(f"{module} key tables collide: {clash}")


class SynodApp:
    """The state machine behind CometBFT."""

    def __init__(self, backend: Backend, *, check_invariants: bool = False) -> None:
        _check_prefixes()
        self.store = CommitStore(backend)
        self.auth = AuthKeeper()
        self.bank = BankKeeper(self.auth, MODULE_ACCOUNTS)
        self.staking = StakingKeeper(self.bank)
        self.slashing = SlashingKeeper()
        self.tasks = TasksKeeper()
        self.committee = CommitteeKeeper()
        # Which revealed updates a round aggregates: committees score them (committee module).
        self.update_judge: UpdateJudge = CommitteeJudge(self.committee, self.staking, self.tasks)
        self.consensus = ConsensusKeeper()
        # Query rounds, settlement and deadlines (end-block); settle_fast for the validator ensemble.
        self.consensus_hooks = ConsensusHooks(self.consensus, self.bank, self.committee)
        self.routes: dict[str, MsgRoute] = {
            r.type_url: r
            for r in [
                *bank_msgs.routes(self.bank),
                *staking_msgs.routes(self.staking),
                *tasks_msgs.routes(self.tasks, self.bank),
                *committee_msgs.routes(self.committee, self.staking, self.tasks),
                *consensus_msgs.routes(self.consensus, self.bank, self.consensus_hooks, self.staking),
            ]
        }
        self.check_invariants = check_invariants
        # Node-local memos, bounded (app/core/txcache.py, app/core/recheck.py): decoded txs and
        # signature verdicts are pure functions of the tx bytes, so they cannot change a result or
        # the app hash; the recheck memo answers only CheckTx, which never reaches a block.
        self.decoded = DecodedCache()
        self.verdicts = SignatureVerdicts()
        self.rechecks: RecheckMemo[TxResult] = RecheckMemo()
        # Every tx adds its fee to these balances and no check reads them (see app/core/recheck.py).
        self._fee_balances = bank_keys.STORE_PREFIX + bank_keys.balance_key(
            self.bank.module_account(FEE_COLLECTOR)
        )
        self.reload()

    def reload(self) -> None:
        """(Re)read what depends on committed state: at start and after a state-sync restore."""
        self._check_state = self.store.branch()
        self._block: Branch | None = None
        raw = self.store.view.get(_CHAIN_ID_KEY)
        self.chain_id = raw.decode() if raw else ""

    # --- lifecycle, in the order CometBFT calls it -------------------------------------------

    def info(self) -> tuple[int, bytes]:
        """Last committed height and app hash (what Info reports; CometBFT replays from there)."""
        return self.store.height, self.store.app_hash

    def init_chain(
        self,
        chain_id: str,
        app_state: bytes,
        initial_height: int,
        vote_extensions_height: int = 0,
        block_max_bytes: int = 0,
        evidence_max_bytes: int = 0,
    ) -> tuple[bytes, list[tuple[bytes, int]]]:
        """Stage genesis (persisted with the first block's Commit); return app hash and validators.

        With extensions on and CometBFT's block limits given (0: not checked), the mandatory beacon
        and ensemble txs must fit every block at the largest validator set (_check_block_room).
        """
        if self.store.height:
            raise RuntimeError("InitChain on a non-empty store: remove the data directory first")
        if not chain_id:  # CometBFT refuses such a genesis; a chain id is how is_initialized knows
            raise GenesisError("InitChain without a chain_id: set chain_id in genesis.json")
        self.chain_id = chain_id
        block = self.store.branch()
        block.set(_CHAIN_ID_KEY, chain_id.encode())
        if vote_extensions_height > 0:
            # No votes before the initial height: its votes are the first that can be extended.
            block.set(_VOTE_EXTENSIONS_KEY, u64be(max(vote_extensions_height, initial_height)))
        validators = self._init_genesis(block, app_state)
        if vote_extensions_height > 0 and block_max_bytes:
            self._check_block_room(block, block_max_bytes, evidence_max_bytes)
        self._block = block
        return self.store.stage(block, initial_height - 1), validators

    def _check_block_room(self, store: KVReader, block_max_bytes: int, evidence_max_bytes: int) -> None:
        """GenesisError unless the beacon and ensemble txs of max_validators validators, each with
        a largest extension, fit CometBFT's max_tx_bytes (its MaxDataBytes) with full evidence."""
        validators = self.staking.get_params(store).max_validators
        members = self.committee.get_params(store).max_committee_size
        max_bytes = block_max_bytes if block_max_bytes > 0 else _COMET_MAX_BLOCK_BYTES
        room = max_bytes - _COMET_BLOCK_OVERHEAD - _COMET_COMMIT_SIG_BYTES * validators - evidence_max_bytes
        need = _BEACON_ENTRY_BYTES * members + len(beacon.BEACON_TX_PREFIX) + 32
        need += ensemble.compute_ensemble_tx_bound(validators)
        if need > room:
            raise GenesisError(
                f"the beacon and ensemble txs of staking.max_validators = {validators} validators need "
                f"{need} bytes, but a block of consensus_params.block.max_bytes = {block_max_bytes} "
                f"leaves {room} for txs (with evidence.max_bytes = {evidence_max_bytes}); raise "
                "block.max_bytes or lower max_validators"
            )

    def _init_genesis(self, store: Branch, app_state: bytes) -> list[tuple[bytes, int]]:
        """Apply each module's genesis in GENESIS_MODULES order; return the bonded validators."""
        try:
            doc = json.loads(app_state or b"{}")
            if not isinstance(doc, dict):
                raise GenesisError("app_state must be a JSON object keyed by module name")
            unknown = sorted(set(doc) - set(GENESIS_MODULES))
            if unknown:
                raise GenesisError(f"app_state has unknown modules {unknown}")
            auth_genesis.init_genesis(
                store, self.auth, _parse_genesis(doc, "auth", auth_genesis.default_genesis())
            )
            bank_genesis.init_genesis(
                store, self.bank, _parse_genesis(doc, "bank", bank_genesis.default_genesis())
            )
            validators = staking_genesis.init_genesis(
                store, self.staking, _parse_genesis(doc, "staking", staking_genesis.default_genesis())
            )
            slashing_genesis.init_genesis(
                store, self.slashing, _parse_genesis(doc, "slashing", slashing_genesis.default_genesis())
            )
            tasks_genesis.init_genesis(
                store, self.tasks, _parse_genesis(doc, "tasks", tasks_genesis.default_genesis())
            )
            committee_genesis.init_genesis(
                store,
                self.committee,
                self.staking,
                _parse_genesis(doc, "committee", committee_genesis.default_genesis()),
            )
            consensus_genesis.init_genesis(
                store,
                self.consensus,
                self.staking,
                _parse_genesis(doc, "consensus", consensus_genesis.default_genesis()),
            )
        except (ValueError, SynodError) as e:
            raise GenesisError(f"invalid genesis app_state: {e}") from e
        self._run_invariants(store)
        return validators

    def is_initialized(self) -> bool:
        """True once InitChain ran (now or before the last Commit) or state sync restored a state."""
        return bool(self.chain_id)

    def _not_initialized(self, call: str) -> SynodError:
        """The error for a state-changing call that came before InitChain (logged: an operator error)."""
        err = ErrNotInitialized.wrap(
            f"{call} before InitChain: this app has no chain yet (CometBFT sends InitChain first to "
            "an app at height 0; run the node with `synod start` on an initialised home)"
        )
        log.error("%s", err)
        return err

    def check_tx(self, raw: bytes, recheck: bool = False) -> TxResult:
        """Mempool admission: run the tx on the check state (reset at every Commit).

        A RECHECK (a tx still in the mempool after a Commit) is answered from the tx's last check
        where nothing that check read has changed (the rule is in app/core/recheck.py).
        """
        # As of the last committed block's time (the next block's time is not known yet).
        block = BlockInfo(self.chain_id, self.store.height + 1, *self.store.time)
        return self._run_tx(self._check_state, raw, block, is_check=True, recheck=recheck)

    def finalize_block(
        self,
        height: int,
        txs: list[bytes],
        time_seconds: int = 0,
        time_nanos: int = 0,
        misbehavior: list[Misbehavior] | None = None,
        votes: list[VoteInfo] | None = None,
        last_commit: list[beacon.CommitVote] | None = None,
    ) -> BlockResult:
        """Execute a decided block on a branch and stage its app hash; nothing is persisted.

        Order: the beacon tx (committee), evidence and liveness (slashing), the other transactions,
        task deadlines (tasks), then matured unbondings and the new validator set (staking).
        Before InitChain every tx fails with ErrNotInitialized and nothing is staged.
        """
        if not self.is_initialized():
            err = self._not_initialized(f"FinalizeBlock of height {height}")
            return BlockResult([TxResult.failure(err, 0, 0) for _ in txs], [], self.store.app_hash)
        block = self._block if self._block is not None else self.store.branch()
        self._block = None
        info = BlockInfo(self.chain_id, height, time_seconds, time_nanos)
        events = EventManager()
        # First, so liveness sees the members the beacon left out (absent) and the block sees the seed.
        ensemble_due = ensemble.is_ensemble_due(
            block, self.consensus, beacon.is_beacon_height(self.vote_extensions_height(block), height)
        )
        results, txs, votes = self._process_beacon(block, height, txs, votes or [], last_commit or [])
        if ensemble_due and txs and ensemble.is_ensemble_tx(txs[0]):
            results.append(self._process_ensemble(block, height, txs[0], last_commit or []))
            txs = txs[1:]
        slashing_hooks.process_misbehavior(
            block, info, self.staking, self.slashing, misbehavior or [], events
        )
        slashing_hooks.process_liveness(block, info, self.staking, self.slashing, votes, events)
        results += [self._run_tx(block, raw, info, is_check=False) for raw in txs]
        tasks_hooks.process_end_block(block, height, self.tasks, self.bank, self.update_judge, events)
        self.consensus_hooks.process_end_block(block, height, events)
        for entry in self.staking.complete_unbonding(block, time_seconds):
            events.emit(
                "complete_unbonding",
                delegator=entry.delegator_address,
                validator=entry.validator_address,
                amount=entry.balance,
            )
        updates = self.staking.apply_validator_set(block)
        self._run_invariants(block)
        app_hash = self.store.stage(block, height, (time_seconds, time_nanos))
        return BlockResult(results, events.events, app_hash, updates)

    def commit(self) -> int:
        """Persist the staged block atomically; reset the check state. Returns the new height.

        Before InitChain nothing was staged: nothing is written and the height stays 0.
        """
        if not self.is_initialized():
            self._not_initialized("Commit")
            return self.store.height
        staged = self.store.commit()
        self._check_state = self.store.branch()
        return staged.height

    # --- proposals and vote extensions: the randomness beacon (app/modules/committee/beacon.py) ---

    def vote_extensions_height(self, store: KVReader | None = None) -> int:
        """The first height whose votes carry extensions, from genesis (0: never)."""
        raw = (self.store.view if store is None else store).get(_VOTE_EXTENSIONS_KEY)
        return from_u64be(raw) if raw else 0

    def verify_vote_extension(self, address: bytes, height: int, extension: bytes) -> bool:
        """VerifyVoteExtension on committed state: a member's precommit needs its valid beacon share,
        and any fast-path answers must be well-formed for pending queries."""
        view = self.store.view
        return beacon.is_valid_extension(
            view, self.committee, self.chain_id, address, height, extension
        ) and ensemble.is_valid_answers(view, self.consensus, extension)

    def pending_fast_queries(self) -> list[consensus_pb2.PredictionQuery]:
        """Fast queries the validators' next vote extensions may answer (committed state)."""
        return self.consensus.iterate_pending_fast(self.store.view)

    def prepare_proposal(
        self,
        height: int,
        txs: list[bytes],
        max_tx_bytes: int,
        votes: list[beacon.CommitVote],
        commit_round: int = 0,
    ) -> list[bytes]:
        """PrepareProposal: the beacon tx first where due, then the ensemble tx where a fast query is
        pending, then mempool txs in order while the block stays within max_tx_bytes and auth's block
        budget (the first tx that does not fit ends the block, so one sender's sequence stays in order)."""
        view = self.store.view
        chosen: list[bytes] = []
        if beacon.is_beacon_height(self.vote_extensions_height(view), height):
            chosen.append(beacon.build_beacon_tx(view, self.committee, self.chain_id, height - 1, votes))
            if ensemble.is_ensemble_due(view, self.consensus, beacon_due=True):
                # Mandatory, so it gets the room the beacon tx leaves; extensions that do not fit
                # are left out by ensemble's documented rule (genesis makes that never happen).
                room = max_tx_bytes - len(chosen[0])
                chosen.append(ensemble.build_ensemble_tx(height - 1, commit_round, votes, room))
        params = self.auth.get_params(view)
        total = sum(map(len, chosen))
        load = auth_logic.BlockLoad(len(chosen), 0)
        for raw in txs:
            if beacon.is_beacon_tx(raw) or ensemble.is_ensemble_tx(raw):
                continue  # CheckTx refuses them; a peer's mempool may not
            total += len(raw)
            load += self._tx_load(raw, params)
            if total > max_tx_bytes or not auth_logic.is_within_block_budget(params, load):
                break
            chosen.append(raw)
        return chosen

    def _tx_load(self, raw: bytes, params: auth_pb2.Params) -> auth_logic.BlockLoad:
        """A tx's count against the block budget, decoded once: from the mempool memo where it is.

        A tx over max_tx_bytes fails before it is hashed or decoded (_run_tx), so it is not either here.
        """
        if len(raw) > params.max_tx_bytes:
            return auth_logic.UNDECODED
        tx_hash = compute_tx_hash(raw)
        hit = self.decoded.get(tx_hash, raw)
        tx = hit[0] if hit is not None else auth_logic.decode_for_budget(raw, tx_hash)
        return auth_logic.compute_tx_load(tx)

    def check_block_budget(self, txs: list[bytes]) -> str | None:
        """None if the block's txs fit auth's per-block budget, else what overflows it.

        Every tx counts, the beacon and ensemble txs too. The count is checked before any tx is
        hashed or decoded, so a proposal of many tiny txs is refused for the price of len().
        """
        params = self.auth.get_params(self.store.view)
        if len(txs) > params.max_block_msgs:
            return f"{len(txs)} txs, and a block carries at most {params.max_block_msgs} messages"
        load = auth_logic.BlockLoad()
        for raw in txs:
            load += self._tx_load(raw, params)
        if not auth_logic.is_within_block_budget(params, load):
            return (
                f"{load.msgs} messages and {load.gas} gas, over the block budget of "
                f"{params.max_block_msgs} messages and {params.max_block_gas} gas"
            )
        return None

    def process_proposal(
        self, height: int, txs: list[bytes], votes: list[beacon.CommitVote], commit_round: int = 0
    ) -> str | None:
        """ProcessProposal on committed state: None to accept, else what is wrong: the block budget,
        the beacon tx or the ensemble tx."""
        over = self.check_block_budget(txs)
        if over is not None:
            return over
        view = self.store.view
        required = beacon.is_beacon_height(self.vote_extensions_height(view), height)
        wrong = beacon.check_beacon_tx(view, self.committee, self.chain_id, height, txs, votes, required)
        if wrong is not None:
            return wrong
        due = ensemble.is_ensemble_due(view, self.consensus, beacon_due=required)
        return ensemble.check_ensemble_tx(
            view, self.staking, self.chain_id, height, txs, votes, commit_round, due
        )

    def _process_beacon(
        self,
        block: Branch,
        height: int,
        txs: list[bytes],
        votes: list[VoteInfo],
        last_commit: list[beacon.CommitVote],
    ) -> tuple[list[TxResult], list[bytes], list[VoteInfo]]:
        """Run the block's beacon tx (txs[0], where due): its result, the other txs, liveness votes."""
        due = beacon.is_beacon_height(self.vote_extensions_height(block), height)
        if not (due and txs and beacon.is_beacon_tx(txs[0])):
            return [], txs, votes  # ProcessProposal rejects such a block; any beacon bytes fail as txs
        branch = block.branch()
        try:
            outcome = beacon.process_beacon_tx(
                branch, self.committee, self.chain_id, height, txs[0], last_commit
            )
        except SynodError as e:
            return [TxResult.failure(e, 0, 0)], txs[1:], votes
        branch.write()
        seed = outcome.seed
        event = Event.new(
            "beacon",
            vote_height=seed.vote_height,
            seed=seed.seed.hex(),
            shares=seed.shares,
            missing=",".join(sorted(a.hex().upper() for a in outcome.missing)),
        )
        # A due share left out costs its validator the block, as a dropped precommit would.
        votes = [replace(v, signed=False) if v.address in outcome.missing else v for v in votes]
        return [TxResult(events=[event])], txs[1:], votes

    def _process_ensemble(
        self, block: Branch, height: int, raw: bytes, last_commit: list[beacon.CommitVote]
    ) -> TxResult:
        """Run the block's ensemble tx: settle the fast queries its signed answers decide."""
        branch = block.branch()
        settled_events = EventManager()
        try:
            outcome = ensemble.process_ensemble_tx(
                branch,
                self.consensus,
                self.consensus_hooks,
                self.staking,
                self.chain_id,
                height,
                raw,
                last_commit,
                settled_events,
            )
        except SynodError as e:
            return TxResult.failure(e, 0, 0)
        branch.write()
        event = Event.new("ensemble", votes=outcome.votes, settled=",".join(str(i) for i in outcome.settled))
        return TxResult(events=[event, *settled_events.events])

    # --- the transaction pipeline ---------------------------------------------------------------

    def _decode_msgs(self, tx: DecodedTx) -> list[tuple[MsgRoute, Message]]:
        """Unpack each Any, run its stateless check and require the tx signer to be its signer."""
        msgs = []
        for i, any_msg in enumerate(tx.body.messages):
            route = self.routes.get(any_msg.type_url)
            if route is None:
                raise ErrUnknownMessage.wrap(
                    f"message {i} has type {any_msg.type_url!r}, which this chain does not know"
                )
            msg = parse_canonical(route.cls, any_msg.value, f"message {i}")
            route.validate(msg)
            if route.signer(msg) != tx.signer:
                raise ErrUnauthorized.wrap(
                    f"message {i} must be signed by {route.signer(msg)}, but the tx is signed by {tx.signer}"
                )
            msgs.append((route, msg))
        return msgs

    def _decode(self, raw: bytes, tx_hash: bytes) -> tuple[DecodedTx, list[tuple[MsgRoute, Message]]]:
        """Decode the tx and run its stateless checks, or take both from the memo of accepted txs."""
        hit = self.decoded.get(tx_hash, raw)
        if hit is not None:
            return hit
        tx = decode_tx(raw, tx_hash)
        return tx, self._decode_msgs(tx)

    def _forget(self, tx_hash: bytes) -> None:
        """Drop a tx's memos: a block carried it, or its check failed (it leaves the mempool)."""
        self.decoded.pop(tx_hash)
        self.rechecks.pop(tx_hash)

    def _run_tx(
        self, parent: Branch, raw: bytes, block: BlockInfo, is_check: bool, recheck: bool = False
    ) -> TxResult:
        """Ante on one branch (kept if it passes), messages on another (kept only on success)."""
        meter = GasMeter(INFINITE_GAS)
        gas_wanted = 0
        tx_hash = b""
        try:
            max_bytes = self.auth.get_params(parent).max_tx_bytes
            if len(raw) > max_bytes:  # before the tx is hashed, looked up or decoded
                raise ErrTxTooLarge.wrap(f"tx is {len(raw)} bytes, the limit is {max_bytes}")
            tx_hash = compute_tx_hash(raw)
            if recheck and (replayed := self.rechecks.replay(tx_hash, parent, block.height)) is not None:
                return replace(replayed, events=list(replayed.events))
            tx, msgs = self._decode(raw, tx_hash)
            if not is_check:
                self._forget(tx_hash)  # a block carried it: CometBFT drops it from the mempool
            gas_wanted = tx.gas_limit
            meter = GasMeter(tx.gas_limit)
            # In CheckTx, what the tx reads is recorded, for a later RECHECK (app/core/recheck.py).
            ante = RecordingBranch(parent) if is_check else parent.branch()
            ctx = Context(GasKV(ante, meter, DEFAULT_GAS_CONFIG), block, meter, is_check=is_check)
            run_ante(ctx, tx, self.auth, self.bank, self.verdicts)
            if not is_check:
                ante.write()  # in a block, the fee and sequence stand even if a message fails
        except SynodError as e:
            if is_check:
                self._forget(tx_hash)
            return TxResult.failure(e, gas_wanted, min(meter.consumed, gas_wanted))
        except Exception as e:  # a bug, not bad input: the tx fails, the node lives on
            log.exception("unexpected error in ante handler")
            return TxResult(UNKNOWN_CODE, "sdk", f"internal error: {type(e).__name__}", gas_wanted)
        if not is_check:
            return self._run_msgs(parent, tx, msgs, meter, block, is_check)
        assert isinstance(ante, RecordingBranch)
        return self._finish_check(ante, tx, msgs, meter, block)

    def _finish_check(
        self,
        ante: RecordingBranch,
        tx: DecodedTx,
        msgs: list[tuple[MsgRoute, Message]],
        meter: GasMeter,
        block: BlockInfo,
    ) -> TxResult:
        """CheckTx after the ante: the messages, then the check state and the memos."""
        # A tx CheckTx rejects never enters the mempool, so its sequence bump and fee must not stay
        # in the check state either, or the sender's next tx would be refused until the next Commit.
        result = self._run_msgs(ante, tx, msgs, meter, block, is_check=True)
        if result.code != 0:
            self._forget(tx.hash)
            return result
        self._remember_check(tx, msgs, ante, result)
        ante.write()
        return result

    def _remember_check(
        self, tx: DecodedTx, msgs: list[tuple[MsgRoute, Message]], ante: RecordingBranch, result: TxResult
    ) -> None:
        """After a tx entered the mempool: keep it decoded for its block, and its run for a RECHECK
        (before ante.write(), which hands its writes on: the memo keeps that dict)."""
        self.decoded.put(tx, msgs)
        if ante.iterated or any(route.reads_block_time for route, _ in msgs):
            self.rechecks.pop(tx.hash)
            return
        self.rechecks.record(
            tx.hash, ante.reads, ante.writes, self._fee_balances, tx.body.timeout_height, result
        )

    def _run_msgs(
        self,
        parent: Branch,
        tx: DecodedTx,
        msgs: list[tuple[MsgRoute, Message]],
        meter: GasMeter,
        block: BlockInfo,
        is_check: bool,
    ) -> TxResult:
        """Run all messages atomically: all are applied or none."""
        branch = parent.branch()
        ctx = Context(GasKV(branch, meter, DEFAULT_GAS_CONFIG), block, meter, is_check=is_check)
        ctx.events.emit("tx", signer=tx.signer, fee=str(tx.fee), sequence=tx.auth_info.sequence)
        try:
            for route, msg in msgs:
                ctx.events.emit("message", action=route.type_url, sender=tx.signer)
                route.handle(ctx, msg)
        except SynodError as e:
            return TxResult.failure(e, tx.gas_limit, min(meter.consumed, tx.gas_limit))
        except Exception as e:
            log.exception("unexpected error in message handler")
            return TxResult(
                UNKNOWN_CODE, "sdk", f"internal error: {type(e).__name__}", tx.gas_limit, tx.gas_limit
            )
        branch.write()
        return TxResult(gas_wanted=tx.gas_limit, gas_used=meter.consumed, events=ctx.events.events)

    def _run_invariants(self, store: Branch) -> None:
        """Crash loudly in tests if an invariant breaks (never enabled on a live node)."""
        if self.check_invariants:
            check_supply(store, self.bank)
            check_bonded_pool(store, self.staking)
            check_shares(store, self.staking)
            check_escrow(store, self.tasks, self._module_balances)
            check_consensus_escrow(store, self.consensus, self._module_balances)
            check_member_count(store, self.committee)

    def _module_balances(self, store: KVReader, module: str) -> dict[str, int]:
        """Every balance of a module account (for invariants)."""
        return dict(self.bank.get_all_balances(store, self.bank.module_account(module)))


_G = TypeVar("_G", bound=Message)


def _parse_genesis(doc: dict, module: str, default: _G) -> _G:
    """Parse one module's genesis JSON (proto3 JSON mapping) over its defaults."""
    if module not in doc:
        return default
    if not isinstance(doc[module], dict):  # ParseDict raises TypeError, not ParseError, on a scalar
        raise GenesisError(f"{module}: must be a JSON object of its genesis fields")
    try:
        # Parse over the defaults, so a genesis that omits a field (or all params) keeps its default.
        return json_format.ParseDict(doc[module], default)
    except json_format.ParseError as e:
        raise GenesisError(f"{module}: {e}") from None
