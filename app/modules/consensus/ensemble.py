"""The validator-ensemble fast path: predictions in vote extensions, settled in the next block.

How a fast query is answered (query posted in block B):

1. ExtendVote at B+1: a validator whose node has predictions for a pending query (written by
   `synod ensemble run`, its model's sidecar) puts them in its vote extension next to its beacon share
   (app/core/voteext.py). VerifyVoteExtension checks their form (is_valid_answers): pending queries,
   in id order, each blob exactly the query's predictions format.
2. PrepareProposal at B+2: whenever a fast query is pending, the proposer puts an EnsembleTx right
   after the beacon tx, holding every committing precommit's extension with CometBFT's ed25519
   extension signature (build_ensemble_tx).
3. ProcessProposal at B+2: every validator checks that the tx holds exactly one entry per COMMIT vote
   of the proposed last commit, each signed by that validator's consensus key over CometBFT's
   CanonicalVoteExtension (check_ensemble_tx). A proposer can neither drop nor alter an answer: the
   signatures pin the bytes, and the last commit names every precommit it holds.
4. FinalizeBlock at B+2 (process_ensemble_tx): for each pending query, the answers of validators with
   a registered model (EnsembleModel) settle it by the module's rule (hooks.settle_fast, weight =
   power x reputation) once they hold more than 2/3 of the power of the model validators in the
   commit; otherwise it waits for a later block, or expires (fast_deadline_blocks).

Unlike beacon shares, the answers are carried whole and signed, so a late precommit with a malformed
extension (cometbft#2361, see beacon.py) is carried too and simply counts for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.core import voteext
from app.core.crypto import is_valid_signature
from app.core.errors import SynodError
from app.core.events import EventManager
from app.core.tx import parse_canonical
from app.modules.committee.beacon import CommitVote
from app.modules.consensus import logic
from app.modules.consensus.errors import ErrBadEnsemble
from app.modules.consensus.hooks import ConsensusHooks, FastVote
from app.modules.consensus.keeper import ConsensusKeeper
from app.state.kv import KVReader, KVStore
from synod.consensus.v1 import consensus_pb2, ensemble_pb2
from synod.staking.v1 import staking_pb2

__all__ = [
    "ENSEMBLE_TX_PREFIX",
    "EnsembleOutcome",
    "EnsembleStaking",
    "build_ensemble_tx",
    "check_ensemble_tx",
    "compute_ensemble_tx_bound",
    "is_ensemble_due",
    "is_ensemble_tx",
    "is_omitted",
    "is_valid_answers",
    "is_valid_predictions",
    "process_ensemble_tx",
]

# Field number 0 is invalid protobuf, so, like the beacon tx, this never decodes as a TxRaw.
ENSEMBLE_TX_PREFIX = b"\x00synod/ensemble/v1\x00"
# The ensemble tx follows the beacon tx, which is first whenever extensions are on.
ENSEMBLE_TX_INDEX = 1
# Upper bounds on the encoding: the tx's prefix, height and round; one entry's tag, length and
# 20-byte address; the extension's and signature's tags and lengths.
_ENVELOPE_BYTES = len(ENSEMBLE_TX_PREFIX) + 32
_ENTRY_BASE_BYTES = 32
_ENTRY_FRAMING_BYTES = 16
_SIGNATURE_BYTES = 64  # ed25519


class EnsembleStaking(Protocol):
    """Validators' consensus keys, to check the signatures on their vote extensions."""

    def operator_by_consensus(self, store: KVReader, consensus_address: bytes) -> bytes | None: ...

    def get_validator(self, store: KVReader, operator: bytes) -> staking_pb2.Validator | None: ...


@dataclass(frozen=True)
class EnsembleOutcome:
    """What a block's ensemble tx did: the queries it settled and how many valid signed votes it held."""

    settled: list[int]
    votes: int


def is_ensemble_tx(raw: bytes) -> bool:
    """True for bytes that claim to be an ensemble tx (only a proposer may place one)."""
    return raw.startswith(ENSEMBLE_TX_PREFIX)


def is_ensemble_due(store: KVReader, keeper: ConsensusKeeper, beacon_due: bool) -> bool:
    """Does the next block carry an ensemble tx: yes while extensions are on and a fast query waits."""
    return beacon_due and bool(keeper.iterate_pending_fast(store))


def is_valid_predictions(query: consensus_pb2.PredictionQuery, blob: bytes) -> bool:
    """Whether blob is well-formed predictions for query."""
    try:
        logic.decode_predictions(blob, query.input_count, query.label_count)
    except logic.PredictionsError:
        return False
    return True


def is_valid_answers(store: KVReader, keeper: ConsensusKeeper, extension: bytes) -> bool:
    """VerifyVoteExtension's rule for answers: at most max_extension_answers, each naming a pending
    fast query and well-formed.

    The extension as a whole must parse (voteext.parse_vote_extension: canonical, ids ascending).
    """
    ext = voteext.parse_vote_extension(extension)
    if ext is None:
        return False
    if not ext.answers:
        return True
    if len(ext.answers) > keeper.get_params(store).max_extension_answers:
        return False
    pending = {q.id: q for q in keeper.iterate_pending_fast(store)}
    return all(
        a.query_id in pending and is_valid_predictions(pending[a.query_id], a.predictions)
        for a in ext.answers
    )


def _encode(tx: ensemble_pb2.EnsembleTx) -> bytes:
    return ENSEMBLE_TX_PREFIX + tx.SerializeToString(deterministic=True)


def _decode(raw: bytes) -> ensemble_pb2.EnsembleTx:
    """Parse an ensemble tx, rejecting a missing prefix, malformed or non-canonical bytes."""
    if not is_ensemble_tx(raw):
        raise ErrBadEnsemble.wrap("the bytes do not start with the ensemble tx prefix")
    try:
        tx = parse_canonical(ensemble_pb2.EnsembleTx, raw[len(ENSEMBLE_TX_PREFIX) :], "ensemble tx")
    except SynodError as e:
        raise ErrBadEnsemble.wrap(str(e)) from None
    return tx


def _entry_bytes(vote: CommitVote) -> int:
    """Bytes a vote adds to the ensemble tx when carried whole (above its omitted form)."""
    return len(vote.extension) + len(vote.signature) + _ENTRY_FRAMING_BYTES


def _omitted(votes: Sequence[CommitVote], max_bytes: int | None) -> set[bytes]:
    """Addresses whose extensions the proposer leaves out: every oversized one (it counts for
    nothing: only an unverified late precommit has one, cometbft#2361), then the largest first
    (ties: the higher address first) until the tx fits max_bytes."""
    out = {v.address for v in votes if len(v.extension) > voteext.MAX_VOTE_EXTENSION_BYTES}
    if max_bytes is None:
        return out
    kept = sorted((v for v in votes if v.address not in out), key=lambda v: (len(v.extension), v.address))
    size = _ENVELOPE_BYTES + sum(_ENTRY_BASE_BYTES + _entry_bytes(v) for v in kept)
    size += _ENTRY_BASE_BYTES * len(out)
    while kept and size > max_bytes:
        vote = kept.pop()
        out.add(vote.address)
        size -= _entry_bytes(vote)
    return out


def compute_ensemble_tx_bound(validators: int) -> int:
    """The largest ensemble tx: every validator's precommit with a largest accepted extension."""
    entry = _ENTRY_BASE_BYTES + voteext.MAX_VOTE_EXTENSION_BYTES + _SIGNATURE_BYTES + _ENTRY_FRAMING_BYTES
    return _ENVELOPE_BYTES + validators * entry


def build_ensemble_tx(
    vote_height: int, vote_round: int, votes: Sequence[CommitVote], max_bytes: int | None = None
) -> bytes:
    """PrepareProposal: every committing precommit by address, each with its extension and signature
    unless _omitted leaves them out (the entry then holds the address alone)."""
    committed = sorted((v for v in votes if v.committed), key=lambda v: v.address)
    omitted = _omitted(committed, max_bytes)
    entries = [
        ensemble_pb2.EnsembleVote(validator_address=v.address)
        if v.address in omitted
        else ensemble_pb2.EnsembleVote(
            validator_address=v.address, extension=v.extension, signature=v.signature
        )
        for v in committed
    ]
    return _encode(ensemble_pb2.EnsembleTx(vote_height=vote_height, vote_round=vote_round, votes=entries))


def is_omitted(vote: ensemble_pb2.EnsembleVote) -> bool:
    """An entry whose extension the proposer left out: it answers nothing (its power still counts
    in the ensemble's total)."""
    return not vote.extension and not vote.signature


def _consensus_pubkey(store: KVReader, staking: EnsembleStaking, address: bytes) -> bytes | None:
    """The ed25519 consensus key behind a CometBFT validator address, if staking knows it."""
    operator = staking.operator_by_consensus(store, address)
    validator = staking.get_validator(store, operator) if operator is not None else None
    return bytes(validator.consensus_pubkey) if validator is not None else None


def _is_signed(
    store: KVReader,
    staking: EnsembleStaking,
    chain_id: str,
    tx: ensemble_pb2.EnsembleTx,
    vote: ensemble_pb2.EnsembleVote,
) -> bool:
    """Whether vote's extension carries its validator's signature for the tx's height and round."""
    pubkey = _consensus_pubkey(store, staking, vote.validator_address)
    message = voteext.compute_extension_sign_bytes(chain_id, tx.vote_height, tx.vote_round, vote.extension)
    return pubkey is not None and is_valid_signature(pubkey, message, vote.signature)


def check_ensemble_tx(
    store: KVReader,
    staking: EnsembleStaking,
    chain_id: str,
    height: int,
    txs: Sequence[bytes],
    votes: Sequence[CommitVote],
    commit_round: int,
    due: bool,
) -> str | None:
    """ProcessProposal's rule: None if the block's ensemble tx is right (or rightly absent), else why."""
    at = [i for i, raw in enumerate(txs) if is_ensemble_tx(raw)]
    if not due:
        return f"block {height} may not carry an ensemble tx (no fast query is pending)" if at else None
    if at != [ENSEMBLE_TX_INDEX]:
        return f"block {height} must carry one ensemble tx at position {ENSEMBLE_TX_INDEX}, found at {at}"
    try:
        tx = _decode(txs[ENSEMBLE_TX_INDEX])
    except SynodError as e:
        return str(e)
    if tx.vote_height != height - 1 or tx.vote_round != commit_round:
        got, want = (tx.vote_height, tx.vote_round), (height - 1, commit_round)
        return f"ensemble tx is for (height, round) {got}, not {want}"
    addresses = [v.validator_address for v in tx.votes]
    committed = sorted(v.address for v in votes if v.committed)
    if addresses != committed:
        return "ensemble tx must hold exactly the last commit's precommits, sorted by address"
    for vote in tx.votes:
        if not is_omitted(vote) and not _is_signed(store, staking, chain_id, tx, vote):
            return f"ensemble vote of {vote.validator_address.hex().upper()} is not its signed extension"
    return None


def _model_votes(
    store: KVStore,
    keeper: ConsensusKeeper,
    staking: EnsembleStaking,
    chain_id: str,
    tx: ensemble_pb2.EnsembleTx,
    powers: dict[bytes, int],
) -> dict[bytes, tuple[int, dict[int, bytes]]]:
    """Operator -> (power, answers by query id) of each vote of a validator with a registered model.

    An omitted entry keeps its power and answers nothing; so does an extension with more than
    max_extension_answers answers (VerifyVoteExtension rejects it; a late precommit skipped that).
    """
    limit = keeper.get_params(store).max_extension_answers
    out = {}
    for vote in tx.votes:
        operator = staking.operator_by_consensus(store, vote.validator_address)
        if operator is None or vote.validator_address not in powers:
            continue
        model = keeper.get_model(store, operator)
        if model is None or model.since_height > tx.vote_height:
            continue
        answers: dict[int, bytes] = {}
        if not is_omitted(vote):
            if not _is_signed(store, staking, chain_id, tx, vote):
                continue
            ext = voteext.parse_vote_extension(vote.extension)
            if ext is not None and len(ext.answers) <= limit:
                answers = {a.query_id: a.predictions for a in ext.answers}
        out[operator] = (powers[vote.validator_address], answers)
    return out


def _ballots(
    query: consensus_pb2.PredictionQuery, models: dict[bytes, tuple[int, dict[int, bytes]]]
) -> list[FastVote]:
    """The well-formed answers to query, by operator."""
    ballots: list[FastVote] = []
    for operator, (power, answers) in sorted(models.items()):
        blob = answers.get(query.id)
        if blob is not None and is_valid_predictions(query, blob):
            ballots.append((operator, power, blob))
    return ballots


def process_ensemble_tx(
    store: KVStore,
    keeper: ConsensusKeeper,
    hooks: ConsensusHooks,
    staking: EnsembleStaking,
    chain_id: str,
    height: int,
    raw: bytes,
    last_commit: Sequence[CommitVote],
    events: EventManager,
) -> EnsembleOutcome:
    """FinalizeBlock: settle each pending fast query that > 2/3 of the model validators' power answered.

    Signatures are checked again (a replayed or block-synced block skipped ProcessProposal); a vote
    that fails counts for nothing rather than failing the block. Queries are visited in id order
    within max_fast_settle_work (logic.compute_fast_cost each; the first always runs); the rest
    wait for the next block's answers.
    """
    tx = _decode(raw)
    powers = {v.address: v.power for v in last_commit if v.committed}
    models = _model_votes(store, keeper, staking, chain_id, tx, powers)
    model_power = sum(power for power, _ in models.values())
    budget, used = keeper.get_params(store).max_fast_settle_work, 0
    settled = []
    for query in keeper.iterate_pending_fast(store, before_height=height):
        answered = sum(1 for _, answers in models.values() if query.id in answers)
        cost = logic.compute_fast_cost(query.input_count, answered)
        if used and used + cost > budget:
            break  # spread: the later queries are answered again in the next block's extensions
        used += cost
        ballots = _ballots(query, models)
        if 3 * sum(power for _, power, _ in ballots) <= 2 * model_power:
            continue  # not yet a supermajority of the ensemble: wait for a later block
        if hooks.settle_fast(store, query, ballots, height, events):
            settled.append(query.id)
    return EnsembleOutcome(settled, len(models))
