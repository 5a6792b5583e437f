"""consensus message handlers: validate -> keeper -> events."""

from __future__ import annotations

import hashlib

from app.core.coins import Coins, parse_amount, validate_denom
from app.core.context import Context
from app.core.crypto import decode_address
from app.core.errors import SynodError
from app.core.msgs import MsgRoute, decode_address_field
from app.modules.consensus import logic
from app.modules.consensus.errors import (
    ErrAlreadyCommitted,
    ErrAlreadyRegistered,
    ErrAlreadyRevealed,
    ErrBadCommitment,
    ErrBadLabels,
    ErrBadPredictions,
    ErrBadStake,
    ErrCommitmentMismatch,
    ErrFastQuery,
    ErrInvalidModel,
    ErrInvalidQuery,
    ErrLabelsMismatch,
    ErrNoCommitment,
    ErrNoLabelsCommitment,
    ErrNoModel,
    ErrNotParticipant,
    ErrNotPoster,
    ErrNotValidator,
    ErrQueryFull,
    ErrTooManyPending,
    ErrWrongPhase,
    ErrWrongRound,
)
from app.modules.consensus.expected import ConsensusBank, ConsensusStaking
from app.modules.consensus.hooks import ConsensusHooks
from app.modules.consensus.keeper import CONSENSUS_ESCROW, ConsensusKeeper
from app.modules.consensus.params import MAX_MODEL_CHARS
from synod.consensus.v1 import consensus_pb2, tx_pb2

__all__ = [
    "routes",
    "validate_commit",
    "validate_post_query",
    "validate_register",
    "validate_register_model",
    "validate_reveal",
    "validate_reveal_labels",
]

HASH_LEN = 32
MAX_CLASSES = 256  # a class is one byte in the predictions and labels formats
MAX_DESCRIPTION_CHARS = 512
MAX_URI_CHARS = 256


def _require(ok: bool, message: str) -> None:
    """Raise ErrInvalidQuery with message unless ok."""
    if not ok:
        raise ErrInvalidQuery.wrap(message)


def _check_coin(coin: object, name: str) -> None:
    """One valid coin with a positive amount, or ErrInvalidQuery naming it."""
    try:
        validate_denom(coin.denom)  # type: ignore[attr-defined]
        parse_amount(coin.amount, name)  # type: ignore[attr-defined]
    except SynodError as e:
        raise ErrInvalidQuery.wrap(f"{name}: {e}") from None


def _validate_inputs(msg: tx_pb2.MsgPostQuery) -> None:
    """Inline inputs with their SHA-256, or a reference with a 32-byte hash; never both."""
    if msg.inputs:
        _require(not msg.inputs_uri, "give inline inputs or inputs_uri, not both")
        _require(
            msg.inputs_hash == hashlib.sha256(msg.inputs).digest(), "inputs_hash must be SHA-256 of inputs"
        )
    else:
        _require(0 < len(msg.inputs_uri) <= MAX_URI_CHARS, f"inputs_uri must be 1-{MAX_URI_CHARS} characters")
        _require(len(msg.inputs_hash) == HASH_LEN, f"inputs_hash must be a {HASH_LEN}-byte SHA-256")


def validate_post_query(msg: tx_pb2.MsgPostQuery) -> None:
    """Stateless checks of MsgPostQuery: everything but the limits in params."""
    decode_address_field(msg.poster, "poster")
    _require(
        len(msg.description) <= MAX_DESCRIPTION_CHARS, f"description is over {MAX_DESCRIPTION_CHARS} chars"
    )
    _require(msg.input_count >= 1, "input_count must be at least 1")
    _require(2 <= msg.label_count <= MAX_CLASSES, f"label_count must be between 2 and {MAX_CLASSES}")
    _validate_inputs(msg)
    _require(
        len(msg.labels_commitment) in (0, HASH_LEN), f"labels_commitment must be empty or {HASH_LEN} bytes"
    )
    _require(
        not msg.labels_commitment or msg.label_blocks >= 1,
        "a labels_commitment needs label_blocks >= 1 to leave time to reveal the labels",
    )
    _check_coin(msg.reward, "reward")
    if msg.fast:
        _require(msg.rounds == 0, "fast queries have no communication rounds: set rounds to 0")
        return
    _require(
        msg.commit_blocks >= 1 and msg.reveal_blocks >= 1, "commit_blocks and reveal_blocks must be >= 1"
    )
    _check_coin(msg.min_stake, "min_stake")


def _check_limits(msg: tx_pb2.MsgPostQuery, params: consensus_pb2.Params) -> None:
    """The query fits the chain's limits."""
    _require(msg.input_count <= params.max_inputs, f"input_count must be at most {params.max_inputs}")
    _require(msg.label_count <= params.max_labels, f"label_count must be at most {params.max_labels}")
    _require(
        len(msg.inputs) <= params.max_inline_bytes,
        f"inline inputs are {len(msg.inputs)} bytes, the limit is {params.max_inline_bytes}; use inputs_uri",
    )
    _require(msg.rounds <= params.max_rounds, f"rounds must be at most {params.max_rounds}")
    _require(
        msg.peer_sample <= params.max_peer_sample, f"peer_sample must be at most {params.max_peer_sample}"
    )
    _require(
        msg.max_participants <= params.max_query_participants,
        f"max_participants must be at most {params.max_query_participants} (max_query_participants)",
    )


def _check_pending_room(k: ConsensusKeeper, ctx: Context, params: consensus_pb2.Params) -> None:
    """A fast query needs a free pending slot: the ensemble settles at most that many per block."""
    if k.count_pending(ctx.store, params.max_pending_fast_queries) >= params.max_pending_fast_queries:
        raise ErrTooManyPending.wrap(
            f"{params.max_pending_fast_queries} fast queries are already waiting for the validators "
            "(consensus.max_pending_fast_queries); retry after some settle or expire"
        )


def _coin(c: object) -> Coins:
    """One proto coin as Coins."""
    return Coins.of([(c.denom, int(c.amount))])  # type: ignore[attr-defined]


def _post(
    k: ConsensusKeeper, bank: ConsensusBank, ctx: Context, msg: tx_pb2.MsgPostQuery
) -> tx_pb2.MsgPostQueryResponse:
    """Escrow the reward, store the query, schedule its first deadline (round 0, or fast expiry)."""
    params = k.get_params(ctx.store)
    _check_limits(msg, params)
    if msg.fast:
        _check_pending_room(k, ctx, params)
    bank.send_coins_from_account_to_module(
        ctx.store, decode_address(msg.poster), CONSENSUS_ESCROW, _coin(msg.reward)
    )
    height = ctx.block.height
    query = consensus_pb2.PredictionQuery(
        id=k.next_query_id(ctx.store),
        poster=msg.poster,
        description=msg.description,
        input_count=msg.input_count,
        label_count=msg.label_count,
        inputs=msg.inputs,
        inputs_uri=msg.inputs_uri,
        inputs_hash=msg.inputs_hash,
        rounds=msg.rounds,
        peer_sample=msg.peer_sample,
        reward=msg.reward,
        schedule=consensus_pb2.Schedule(
            start_height=height + 1,
            commit_blocks=msg.commit_blocks,
            reveal_blocks=msg.reveal_blocks,
            label_blocks=msg.label_blocks,
        ),
        labels_commitment=msg.labels_commitment,
        fast=msg.fast,
        status=consensus_pb2.QUERY_STATUS_OPEN,
        posted_height=height,
        max_participants=msg.max_participants,
    )
    if msg.fast:
        k.add_pending(ctx.store, query.id)
        k.schedule(ctx.store, height + params.fast_deadline_blocks, query.id)
        k.set_query(ctx.store, query)
    else:
        query.min_stake.CopyFrom(msg.min_stake)
        k.start_phase(ctx.store, query, consensus_pb2.QUERY_PHASE_COMMIT, height + 1)
    ctx.events.emit(
        "post_query", query_id=query.id, poster=msg.poster, fast=str(msg.fast).lower(), rounds=msg.rounds
    )
    return tx_pb2.MsgPostQueryResponse(query_id=query.id)


def _open_query(k: ConsensusKeeper, ctx: Context, query_id: int) -> consensus_pb2.PredictionQuery:
    """An open (not fast) query, or the error that says why not."""
    query = k.require_query(ctx.store, query_id)
    if query.fast:
        raise ErrFastQuery.wrap(f"query {query_id} is a fast query: validators answer it in vote extensions")
    if query.status != consensus_pb2.QUERY_STATUS_OPEN:
        raise ErrWrongPhase.wrap(
            f"query {query_id} is {consensus_pb2.QueryStatus.Name(query.status)}, not open"
        )
    return query


def _require_phase(query: consensus_pb2.PredictionQuery, round_: int, phase: str, height: int) -> None:
    """The query is in phase of round round_ at height."""
    current = logic.compute_phase(query, height)
    if current.name in (logic.COMMIT, logic.REVEAL) and current.round != round_:
        raise ErrWrongRound.wrap(
            f"query {query.id} is in round {current.round} at height {height}, not {round_}"
        )
    if current.name == phase and height > current.end_height:
        # The phase ended at its deadline; its close waits for room in a block (max_block_tally_work).
        raise ErrWrongPhase.wrap(
            f"query {query.id} round {current.round}'s {phase} phase ended at height {current.end_height}"
        )
    if current.name != phase:
        raise ErrWrongPhase.wrap(
            f"query {query.id} round {current.round} is in its {current.name} phase at height {height} "
            f"(until {current.end_height}); {phase} messages are not accepted now"
        )


def _participant(k: ConsensusKeeper, ctx: Context, query_id: int, address: str) -> bytes:
    """The raw address of a registered participant, or ErrNotParticipant."""
    raw = decode_address(address)
    if k.get_participant(ctx.store, query_id, raw) is None:
        raise ErrNotParticipant.wrap(f"{address} has not registered for query {query_id}")
    return raw


def _count(
    k: ConsensusKeeper, ctx: Context, query: consensus_pb2.PredictionQuery, commits: int = 0, reveals: int = 0
) -> None:
    """Count a commitment or reveal; the one that completes the phase closes it in this block."""
    progress = k.get_progress(ctx.store, query.id)
    progress.commits += commits
    progress.reveals += reveals
    k.set_progress(ctx.store, query.id, progress)
    if logic.is_phase_complete(query, progress):
        k.close_phase_now(ctx.store, query, ctx.block.height)


def _register(k: ConsensusKeeper, bank: ConsensusBank, ctx: Context, msg: tx_pb2.MsgRegister) -> None:
    """Escrow the stake and snapshot the participant's reputation during round 0's commit phase."""
    query = _open_query(k, ctx, msg.query_id)
    phase = logic.compute_phase(query, ctx.block.height)
    if (phase.name, phase.round) != (logic.COMMIT, 0):
        first = query.schedule.start_height
        raise ErrWrongPhase.wrap(
            f"query {query.id} takes registrations in round 0's commit phase only "
            f"(heights {first} to {first + query.schedule.commit_blocks - 1})"
        )
    address = decode_address(msg.participant)
    if k.get_participant(ctx.store, query.id, address) is not None:
        raise ErrAlreadyRegistered.wrap(f"{msg.participant} already registered for query {query.id}")
    progress = k.get_progress(ctx.store, query.id)
    cap = query.max_participants or k.get_params(ctx.store).max_query_participants
    if progress.participants >= cap:
        raise ErrQueryFull.wrap(
            f"query {query.id} already has {cap} participants (its max_participants, or else "
            "consensus.max_query_participants)"
        )
    if msg.stake.denom != query.min_stake.denom or int(msg.stake.amount) < int(query.min_stake.amount):
        raise ErrBadStake.wrap(
            f"query {query.id} needs a stake of at least {query.min_stake.amount}{query.min_stake.denom}"
        )
    bank.send_coins_from_account_to_module(ctx.store, address, CONSENSUS_ESCROW, _coin(msg.stake))
    participant = consensus_pb2.Participant(
        query_id=query.id,
        address=msg.participant,
        stake=msg.stake,
        reputation_bps=k.get_reputation_bps(ctx.store, address),
        slashed="0",
        reward="0",
    )
    k.set_participant(ctx.store, address, participant)
    progress.participants += 1
    k.set_progress(ctx.store, query.id, progress)
    ctx.events.emit(
        "register_query",
        query_id=query.id,
        participant=msg.participant,
        stake=f"{msg.stake.amount}{msg.stake.denom}",
        reputation_bps=participant.reputation_bps,
    )


def _commit(k: ConsensusKeeper, ctx: Context, msg: tx_pb2.MsgCommitPredictions) -> None:
    """Record a participant's commitment in the round's commit phase."""
    query = _open_query(k, ctx, msg.query_id)
    _require_phase(query, msg.round, logic.COMMIT, ctx.block.height)
    address = _participant(k, ctx, query.id, msg.participant)
    if k.get_commitment(ctx.store, query.id, msg.round, address) is not None:
        raise ErrAlreadyCommitted.wrap(f"{msg.participant} already committed to round {msg.round}")
    commitment = consensus_pb2.Commitment(
        query_id=query.id, round=msg.round, participant=msg.participant, commitment=msg.commitment
    )
    k.set_commitment(ctx.store, address, commitment)
    _count(k, ctx, query, commits=1)
    ctx.events.emit("commit_predictions", query_id=query.id, round=msg.round, participant=msg.participant)


def _reveal(k: ConsensusKeeper, ctx: Context, msg: tx_pb2.MsgRevealPredictions) -> None:
    """Check the predictions' format and commitment; keep them for the round's tally."""
    query = _open_query(k, ctx, msg.query_id)
    _require_phase(query, msg.round, logic.REVEAL, ctx.block.height)
    address = _participant(k, ctx, query.id, msg.participant)
    commitment = k.get_commitment(ctx.store, query.id, msg.round, address)
    if commitment is None:
        raise ErrNoCommitment.wrap(f"{msg.participant} made no commitment in round {msg.round}")
    if commitment.revealed:
        raise ErrAlreadyRevealed.wrap(f"{msg.participant} already revealed round {msg.round}")
    try:
        logic.decode_predictions(msg.predictions, query.input_count, query.label_count)
    except logic.PredictionsError as e:
        raise ErrBadPredictions.wrap(str(e)) from None
    # The hash binds its author: a copy of another participant's commitment never matches here.
    expected = logic.compute_commitment(address, query.id, msg.round, msg.salt, msg.predictions)
    if expected != commitment.commitment:
        raise ErrCommitmentMismatch.wrap(
            f"SHA-256(domain || participant || query || round || salt || predictions) is not "
            f"{msg.participant}'s commitment for query {query.id} round {msg.round}"
        )
    commitment.revealed = True
    commitment.predictions = msg.predictions
    k.set_commitment(ctx.store, address, commitment)
    _count(k, ctx, query, reveals=1)
    ctx.events.emit("reveal_predictions", query_id=query.id, round=msg.round, participant=msg.participant)


def _reveal_labels(
    k: ConsensusKeeper, hooks: ConsensusHooks, ctx: Context, msg: tx_pb2.MsgRevealLabels
) -> None:
    """The poster's labels after settlement: checked, then scores, reputations and payouts."""
    query = k.require_query(ctx.store, msg.query_id)
    if query.poster != msg.poster:
        raise ErrNotPoster.wrap(f"query {query.id} was posted by {query.poster}")
    if query.status != consensus_pb2.QUERY_STATUS_SETTLED:
        raise ErrWrongPhase.wrap(
            f"query {query.id} is {consensus_pb2.QueryStatus.Name(query.status)}; labels are accepted "
            "once it is settled, until its label deadline"
        )
    deadline = logic.compute_label_deadline(query)
    if ctx.block.height > deadline:
        # Past the deadline, the close only waits for room in a block (max_block_tally_work).
        raise ErrWrongPhase.wrap(f"query {query.id} took labels through height {deadline}")
    if len(msg.labels) != query.input_count or any(label >= query.label_count for label in msg.labels):
        raise ErrBadLabels.wrap(
            f"labels must be {query.input_count} bytes (one per input), each below {query.label_count}"
        )
    if not query.labels_commitment:
        # Labels chosen after the answers could pay nobody and steer reputations: refused.
        raise ErrNoLabelsCommitment.wrap(
            f"query {query.id} carried no labels_commitment when it was posted; it pays by agreement "
            "at its label deadline and takes no labels"
        )
    expected = logic.compute_labels_commitment(
        decode_address(query.poster), query.inputs_hash, msg.salt, msg.labels
    )
    if expected != query.labels_commitment:
        raise ErrLabelsMismatch.wrap(
            f"SHA-256(domain || poster || inputs_hash || salt || labels) is not query {query.id}'s "
            "labels_commitment"
        )
    hooks.close_with_labels(ctx.store, query, msg.labels, ctx.events)
    ctx.events.emit("reveal_labels", query_id=query.id, poster=msg.poster)


def _register_model(
    k: ConsensusKeeper, staking: ConsensusStaking, ctx: Context, msg: tx_pb2.MsgRegisterModel
) -> None:
    """A bonded validator joins (or updates its model in) the fast-path ensemble; empty: leaves."""
    operator = decode_address(msg.operator)
    if not msg.model:
        if k.get_model(ctx.store, operator) is None:
            raise ErrNoModel.wrap(f"{msg.operator} has no ensemble model to remove")
        k.remove_model(ctx.store, operator)
        ctx.events.emit("remove_model", operator=msg.operator)
        return
    validator = staking.get_validator(ctx.store, operator)
    if validator is None or validator.jailed or not staking.get_last_powers(ctx.store).get(operator):
        raise ErrNotValidator.wrap(f"{msg.operator} is not a bonded validator in the active set")
    model = consensus_pb2.EnsembleModel(operator=msg.operator, model=msg.model, since_height=ctx.block.height)
    k.set_model(ctx.store, operator, model)
    ctx.events.emit("register_model", operator=msg.operator, model=msg.model)


def _validate_ref(query_id: int, address: str, field: str) -> None:
    """A query id and a signer address."""
    decode_address_field(address, field)
    if query_id == 0:
        raise ErrInvalidQuery.wrap("query_id must be positive")


def validate_register(msg: tx_pb2.MsgRegister) -> None:
    """Stateless checks of MsgRegister."""
    _validate_ref(msg.query_id, msg.participant, "participant")
    try:
        validate_denom(msg.stake.denom)
        parse_amount(msg.stake.amount, "stake")
    except SynodError as e:
        raise ErrBadStake.wrap(str(e)) from None


def validate_commit(msg: tx_pb2.MsgCommitPredictions) -> None:
    """Stateless checks of MsgCommitPredictions."""
    _validate_ref(msg.query_id, msg.participant, "participant")
    if len(msg.commitment) != HASH_LEN:
        raise ErrBadCommitment.wrap(f"commitment must be {HASH_LEN} bytes, got {len(msg.commitment)}")


def validate_reveal(msg: tx_pb2.MsgRevealPredictions) -> None:
    """Stateless checks of MsgRevealPredictions (the format needs the query: see _reveal)."""
    _validate_ref(msg.query_id, msg.participant, "participant")
    if len(msg.salt) != HASH_LEN:
        raise ErrBadCommitment.wrap(f"salt must be {HASH_LEN} bytes, got {len(msg.salt)}")


def validate_reveal_labels(msg: tx_pb2.MsgRevealLabels) -> None:
    """Stateless checks of MsgRevealLabels (the labels need the query: see _reveal_labels)."""
    _validate_ref(msg.query_id, msg.poster, "poster")


def validate_register_model(msg: tx_pb2.MsgRegisterModel) -> None:
    """Stateless checks of MsgRegisterModel."""
    decode_address_field(msg.operator, "operator")
    if len(msg.model) > MAX_MODEL_CHARS:
        raise ErrInvalidModel.wrap(f"model must be at most {MAX_MODEL_CHARS} characters")


def routes(
    k: ConsensusKeeper, bank: ConsensusBank, hooks: ConsensusHooks, staking: ConsensusStaking
) -> list[MsgRoute]:
    """The consensus module's message routes."""
    return [
        MsgRoute(
            tx_pb2.MsgPostQuery, lambda m: m.poster, validate_post_query, lambda c, m: _post(k, bank, c, m)
        ),
        MsgRoute(
            tx_pb2.MsgRegister,
            lambda m: m.participant,
            validate_register,
            lambda c, m: _register(k, bank, c, m),
        ),
        MsgRoute(
            tx_pb2.MsgCommitPredictions,
            lambda m: m.participant,
            validate_commit,
            lambda c, m: _commit(k, c, m),
        ),
        MsgRoute(
            tx_pb2.MsgRevealPredictions,
            lambda m: m.participant,
            validate_reveal,
            lambda c, m: _reveal(k, c, m),
        ),
        MsgRoute(
            tx_pb2.MsgRevealLabels,
            lambda m: m.poster,
            validate_reveal_labels,
            lambda c, m: _reveal_labels(k, hooks, c, m),
        ),
        MsgRoute(
            tx_pb2.MsgRegisterModel,
            lambda m: m.operator,
            validate_register_model,
            lambda c, m: _register_model(k, staking, c, m),
        ),
    ]
