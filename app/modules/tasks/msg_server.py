"""tasks message handlers: validate -> keeper -> events."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.architectures import (
    ArchitectureError,
    InputShapeError,
    compute_layout,
    model_param_count,
    resolve_input_shape,
)
from app.core.coins import Coins, parse_amount, validate_denom
from app.core.context import Context
from app.core.crypto import decode_address
from app.core.errors import SynodError
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT, FixedPointError, content_hash
from app.core.initializers import MAX_SEED_LEN, compute_seeded_weights
from app.core.msgs import MsgRoute, decode_address_field
from app.modules.tasks import logic
from app.modules.tasks.aggregation import AggregationError, CenteredClippingParams, compute_work, make_params
from app.modules.tasks.errors import (
    ErrAlreadyCommitted,
    ErrAlreadyJoined,
    ErrAlreadyRevealed,
    ErrBadUpdate,
    ErrCommitmentMismatch,
    ErrInvalidInputShape,
    ErrInvalidTask,
    ErrNoCommitment,
    ErrNotOwner,
    ErrNotParticipant,
    ErrTaskClosed,
    ErrTaskFull,
    ErrTooManySamples,
    ErrWrongPhase,
    ErrWrongRound,
)
from app.modules.tasks.expected import TasksBank
from app.modules.tasks.hooks import close_task
from app.modules.tasks.keeper import TASKS_ESCROW, TasksKeeper
from app.modules.tasks.logic import MIN_PART_BYTES
from app.modules.tasks.trace import check_trace
from synod.tasks.v1 import tasks_pb2, tx_pb2

__all__ = ["MAX_SAMPLES", "routes", "validate_post_task"]

OPTIMIZERS = ("adam", "sgd")
HASH_LEN = 32
_MAX_NAME = 64
_MAX_REF = 256
MAX_SAMPLES = 2**31 - 1  # the aggregation rules cap any one weight to this


def _require(ok: bool, message: str) -> None:
    """Raise ErrInvalidTask with message unless ok."""
    if not ok:
        raise ErrInvalidTask.wrap(message)


def _compute_rule_min_updates(aggregation: tasks_pb2.Aggregation) -> int:
    """Return the fewest updates the task's rule accepts, raising ErrInvalidTask if it is unusable."""
    names = [p.name for p in aggregation.params]
    _require(names == sorted(set(names)), "aggregation params must be sorted by name, each name once")
    try:
        rule = make_params(aggregation.rule, {p.name: p.value for p in aggregation.params})
    except AggregationError as e:
        raise ErrInvalidTask.wrap(f"aggregation: {e}") from None
    # The chain aggregates each round from that round's updates alone: it carries no clipping state
    # (previous aggregate, per-worker momenta), so a momentum would be silently ignored.
    _require(
        not isinstance(rule, CenteredClippingParams) or rule.momentum_bps == 0,
        "aggregation: centered_clipping momentum_bps must be 0: the chain carries no clipping state "
        "between rounds (no momentum, no previous aggregate), so a momentum would be ignored",
    )
    return rule.min_updates()


def _validate_hyper(h: tasks_pb2.Hyperparams) -> None:
    """Hyperparameters every worker can apply."""
    _require(
        h.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {h.optimizer!r}"
    )
    _require(1 <= h.learning_rate_ppm <= 10_000_000, "learning_rate_ppm must be in [1, 10000000] (<= 10.0)")
    _require(1 <= h.batch_size <= 65_536, "batch_size must be in [1, 65536]")
    _require(1 <= h.local_epochs <= 1000, "local_epochs must be in [1, 1000]")


def _validate_names(names: Sequence[str], field: str, count: int, what: str) -> None:
    """None, or exactly count distinct printable names of 1-_MAX_NAME characters."""
    if not names:
        return
    _require(len(names) == count, f"data.schema.{field} must name all {count} {what}, got {len(names)}")
    for i, name in enumerate(names):
        _require(
            0 < len(name) <= _MAX_NAME and name.isprintable(),
            f"data.schema.{field}[{i}] must be 1-{_MAX_NAME} printable characters",
        )
    _require(len(set(names)) == len(names), f"data.schema.{field} names something twice")


def _validate_schema(schema: tasks_pb2.DataSchema, model: tasks_pb2.ModelSpec) -> None:
    """Names that fit the model's features and classes, and a standardization of every feature.

    The work is linear in the feature count, which the tx's own bytes bound (each entry takes one).
    """
    _validate_names(schema.feature_names, "feature_names", model.n_features, "features")
    _validate_names(schema.label_names, "label_names", model.n_classes, "classes")
    column = schema.label_column
    _require(
        len(column) <= _MAX_NAME and column.isprintable(),
        f"data.schema.label_column must be at most {_MAX_NAME} printable characters",
    )
    _require(column not in schema.feature_names, f"data.schema.label_column {column!r} is also a feature")
    if schema.HasField("standardization"):
        stats = schema.standardization
        _require(
            len(stats.mean) == len(stats.scale) == model.n_features,
            f"data.schema.standardization needs a mean and a scale for each of the {model.n_features} "
            f"features, got {len(stats.mean)} and {len(stats.scale)}",
        )
        _require(min(stats.scale, default=1) >= 1, "data.schema.standardization scales must be at least 1")


def _validate_data(d: tasks_pb2.DataRef, model: tasks_pb2.ModelSpec) -> None:
    """A named dataset, an evaluation data reference with its 32-byte hash, and the data's schema."""
    _require(0 < len(d.dataset) <= _MAX_NAME, f"data.dataset must be 1-{_MAX_NAME} characters")
    _require(0 < len(d.eval_data) <= _MAX_REF, f"data.eval_data must be 1-{_MAX_REF} characters")
    _require(len(d.eval_hash) == HASH_LEN, f"data.eval_hash must be a {HASH_LEN}-byte SHA-256")
    _validate_schema(d.schema, model)


def _validate_schedule(s: tasks_pb2.Schedule) -> None:
    """Every phase needs at least one block; scoring takes none, or two or more (committee members
    commit to their scores, then reveal them: committee README)."""
    _require(s.rounds >= 1, "schedule.rounds must be at least 1")
    for name in ("join_blocks", "commit_blocks", "reveal_blocks"):
        _require(getattr(s, name) >= 1, f"schedule.{name} must be at least 1")
    _require(
        s.score_blocks != 1,
        "schedule.score_blocks must be 0 (no committee) or at least 2: a committee commits to its "
        "scores in the first blocks of the score phase and reveals them in the last",
    )


def _validate_coins(msg: tx_pb2.MsgPostTask) -> None:
    """A positive reward and a non-negative worker stake, each one valid coin."""
    for name, positive in (("reward", True), ("worker_stake", False)):
        coin = getattr(msg, name)
        try:
            validate_denom(coin.denom)
            parse_amount(coin.amount, name, positive=positive)
        except SynodError as e:
            raise ErrInvalidTask.wrap(f"{name}: {e}") from None


def validate_post_task(msg: tx_pb2.MsgPostTask) -> None:
    """Stateless checks of MsgPostTask: everything but the limits in params."""
    decode_address_field(msg.owner, "owner")
    try:
        size = model_param_count(msg.model)
    except InputShapeError as e:
        raise ErrInvalidInputShape.wrap(f"model: {e}") from None
    except ArchitectureError as e:
        raise ErrInvalidTask.wrap(f"model: {e}") from None
    _validate_hyper(msg.hyper)
    _validate_data(msg.data, msg.model)
    _validate_schedule(msg.schedule)
    _validate_coins(msg)
    _require(1 <= msg.min_workers <= msg.max_workers, "need 1 <= min_workers <= max_workers")
    need = _compute_rule_min_updates(msg.aggregation)
    _require(
        msg.min_workers >= need,
        f"rule {msg.aggregation.rule!r} needs {need} updates per round; raise min_workers to at least {need}",
    )
    if msg.initial_weights:
        _require(not msg.init_seed, "give initial_weights or init_seed, not both")
        try:
            WEIGHT_FORMAT.decode(msg.initial_weights, size)
        except FixedPointError as e:
            raise ErrInvalidTask.wrap(f"initial_weights: {e}") from None
    else:
        _require(
            1 <= len(msg.init_seed) <= MAX_SEED_LEN,
            f"give initial_weights, or an init_seed of 1-{MAX_SEED_LEN} bytes for the chain to derive them",
        )
    if msg.trace.every_steps or msg.trace.tolerance:
        _require(1 <= msg.trace.every_steps <= 1_000_000, "trace.every_steps must be in [1, 1000000]")
        _require(msg.trace.tolerance <= 1 << 24, "trace.tolerance must be at most 2^24 weight units")


def _check_limits(msg: tx_pb2.MsgPostTask, params: tasks_pb2.Params) -> None:
    """The task fits the chain's limits."""
    s = msg.schedule
    _require(s.rounds <= params.max_rounds, f"schedule.rounds must be at most {params.max_rounds}")
    longest = max(s.join_blocks, s.commit_blocks, s.reveal_blocks, s.score_blocks)
    _require(longest <= params.max_phase_blocks, f"phases may last at most {params.max_phase_blocks} blocks")
    _require(msg.max_workers <= params.max_workers, f"max_workers must be at most {params.max_workers}")
    size = model_param_count(msg.model)
    _require(
        size <= params.max_model_params,
        f"model has {size} parameters, the limit is {params.max_model_params}",
    )
    _require(
        len(msg.description) <= params.max_description_chars,
        f"description must be at most {params.max_description_chars} characters",
    )
    rule = make_params(msg.aggregation.rule, {p.name: p.value for p in msg.aggregation.params})
    work = compute_work(msg.aggregation.rule, rule, msg.max_workers, size)
    _require(
        work <= params.max_aggregation_work,
        f"aggregating {msg.max_workers} updates of {size} parameters with {msg.aggregation.rule} is "
        f"{work:,} entry operations a round, over the limit of {params.max_aggregation_work:,}; "
        "use fewer workers, a smaller model or a cheaper rule",
    )


def _initial_weights(msg: tx_pb2.MsgPostTask) -> bytes:
    """The round-0 weights: as posted, or derived from init_seed (app/core/initializers.py)."""
    if msg.initial_weights:
        return msg.initial_weights
    layout = compute_layout(
        msg.model.arch,
        resolve_input_shape(msg.model.n_features, msg.model.input_shape),
        msg.model.n_classes,
    )
    return WEIGHT_FORMAT.encode(compute_seeded_weights(layout, msg.init_seed))


def _coin(c: object) -> Coins:
    """One proto coin as Coins (empty when its amount is zero)."""
    amount = int(c.amount)  # type: ignore[attr-defined]
    return Coins.of([(c.denom, amount)]) if amount else Coins.of([])  # type: ignore[attr-defined]


def _require_open_round(task: tasks_pb2.Task, round_: int, phase: str, height: int) -> None:
    """The task is running, in phase, in round round_."""
    if task.status != tasks_pb2.TASK_STATUS_RUNNING:
        raise ErrTaskClosed.wrap(f"task {task.id} is {tasks_pb2.TaskStatus.Name(task.status)}, not running")
    current = logic.compute_phase(task)
    if current.round != round_:
        raise ErrWrongRound.wrap(
            f"task {task.id} is in round {current.round} at height {height}, not {round_}"
        )
    if current.name == logic.CLOSING:
        raise ErrWrongPhase.wrap(
            f"task {task.id} round {round_} closed at height {current.end_height} and waits for room in a "
            f"block's aggregation budget (tasks.max_block_aggregation_work); {phase} is not accepted now"
        )
    if current.name != phase:
        raise ErrWrongPhase.wrap(
            f"task {task.id} round {round_} is in its {current.name} phase at height {height} "
            f"(until {current.end_height}); {phase} is not accepted now"
        )


def _participant(
    k: TasksKeeper, ctx: Context, task_id: int, worker: bytes, addr: str
) -> tasks_pb2.Participant:
    """The worker's participation, or ErrNotParticipant."""
    p = k.get_participant(ctx.store, task_id, worker)
    if p is None:
        raise ErrNotParticipant.wrap(f"{addr} has not joined task {task_id}")
    return p


def _count(k: TasksKeeper, ctx: Context, task: tasks_pb2.Task, commits: int = 0, reveals: int = 0) -> None:
    """Count a commitment or reveal; the one that completes the phase closes it in this block (early
    close: a few bytes written, O(1) reads, whatever the task's size)."""
    progress = k.get_progress(ctx.store, task.id)
    progress.commits += commits
    progress.reveals += reveals
    k.set_progress(ctx.store, task.id, progress)
    if logic.is_phase_complete(task, progress):
        k.close_phase_now(ctx.store, task.id, ctx.block.height)


def _post(k: TasksKeeper, bank: TasksBank, ctx: Context, msg: tx_pb2.MsgPostTask) -> None:
    """Escrow the reward, store the task and its round-0 checkpoint, schedule the join deadline."""
    _check_limits(msg, k.get_params(ctx.store))
    owner = decode_address(msg.owner)
    bank.send_coins_from_account_to_module(ctx.store, owner, TASKS_ESCROW, _coin(msg.reward))
    model_hash = k.retain_model(ctx.store, _initial_weights(msg))
    task = tasks_pb2.Task(
        id=k.next_task_id(ctx.store),
        owner=msg.owner,
        description=msg.description,
        model=msg.model,
        hyper=msg.hyper,
        data=msg.data,
        schedule=msg.schedule,
        min_workers=msg.min_workers,
        max_workers=msg.max_workers,
        worker_stake=msg.worker_stake,
        reward=msg.reward,
        aggregation=msg.aggregation,
        trace=msg.trace,
        start_height=ctx.block.height,
        status=tasks_pb2.TASK_STATUS_JOINING,
        model_hash=model_hash,
    )
    k.set_task(ctx.store, task)
    k.set_round(
        ctx.store,
        tasks_pb2.RoundRecord(
            task_id=task.id,
            round=0,
            outcome=tasks_pb2.ROUND_OUTCOME_AGGREGATED,
            model_hash=model_hash,
            height=ctx.block.height,
            note="initial model",
        ),
    )
    k.schedule(ctx.store, logic.compute_join_end(task), task.id)
    ctx.events.emit("post_task", task_id=task.id, owner=msg.owner, model_hash=model_hash.hex())


def _join(k: TasksKeeper, bank: TasksBank, ctx: Context, msg: tx_pb2.MsgJoinTask) -> None:
    """Bond the worker stake and register the worker during the join phase."""
    task = k.require_task(ctx.store, msg.task_id)
    if task.status != tasks_pb2.TASK_STATUS_JOINING:
        raise ErrWrongPhase.wrap(
            f"task {task.id} is {tasks_pb2.TaskStatus.Name(task.status)}; joining has closed"
        )
    worker = decode_address(msg.worker)
    if k.get_participant(ctx.store, task.id, worker) is not None:
        raise ErrAlreadyJoined.wrap(f"{msg.worker} already joined task {task.id}")
    if task.worker_count >= task.max_workers:
        raise ErrTaskFull.wrap(f"task {task.id} already has its maximum of {task.max_workers} workers")
    bank.send_coins_from_account_to_module(ctx.store, worker, TASKS_ESCROW, _coin(task.worker_stake))
    k.set_participant(
        ctx.store,
        worker,
        tasks_pb2.Participant(task_id=task.id, address=msg.worker, joined_height=ctx.block.height),
    )
    task.worker_count += 1
    k.set_task(ctx.store, task)
    ctx.events.emit("join_task", task_id=task.id, worker=msg.worker)
    if task.worker_count == task.max_workers:  # no one else can join: round 1 need not wait (early close)
        k.unschedule(ctx.store, logic.compute_join_end(task), task.id)
        k.schedule(ctx.store, ctx.block.height, task.id)


def _commit(k: TasksKeeper, ctx: Context, msg: tx_pb2.MsgCommitUpdate) -> None:
    """Record a worker's commitment in the round's commit phase."""
    task = k.require_task(ctx.store, msg.task_id)
    _require_open_round(task, msg.round, logic.COMMIT, ctx.block.height)
    worker = decode_address(msg.worker)
    _participant(k, ctx, task.id, worker, msg.worker)
    if k.get_commitment(ctx.store, task.id, msg.round, worker) is not None:
        raise ErrAlreadyCommitted.wrap(
            f"{msg.worker} already committed to round {msg.round} of task {task.id}"
        )
    k.set_commitment(
        ctx.store,
        task.id,
        msg.round,
        worker,
        tasks_pb2.Commitment(worker=msg.worker, hash=msg.commitment, height=ctx.block.height),
    )
    _count(k, ctx, task, commits=1)
    ctx.events.emit("commit_update", task_id=task.id, round=msg.round, worker=msg.worker)


def _require_revealable(
    k: TasksKeeper, ctx: Context, task_id: int, round_: int, worker: bytes, addr: str
) -> tasks_pb2.Task:
    """The round is in its reveal phase, and the worker committed to it and has not revealed."""
    task = k.require_task(ctx.store, task_id)
    _require_open_round(task, round_, logic.REVEAL, ctx.block.height)
    _participant(k, ctx, task.id, worker, addr)
    if k.get_commitment(ctx.store, task.id, round_, worker) is None:
        raise ErrNoCommitment.wrap(f"{addr} made no commitment in round {round_} of task {task.id}")
    if k.get_reveal(ctx.store, task.id, round_, worker) is not None:
        raise ErrAlreadyRevealed.wrap(f"{addr} already revealed round {round_} of task {task.id}")
    return task


def _reveal_part(k: TasksKeeper, ctx: Context, msg: tx_pb2.MsgRevealPart) -> None:
    """Stage the next piece of a large update; the reveal that follows completes and checks it."""
    worker = decode_address(msg.worker)
    task = _require_revealable(k, ctx, msg.task_id, msg.round, worker, msg.worker)
    total = UPDATE_FORMAT.width * model_param_count(task.model)
    staged = k.get_staged(ctx.store, task.id, msg.round, worker)
    if msg.index < staged.parts:
        raise ErrAlreadyRevealed.wrap(
            f"part {msg.index} of {msg.worker}'s round {msg.round} update is staged"
        )
    if msg.index > staged.parts:
        raise ErrBadUpdate.wrap(f"part {msg.index} is out of order: the next part to stage is {staged.parts}")
    if staged.bytes + len(msg.data) > total:
        raise ErrBadUpdate.wrap(
            f"task {task.id}'s updates are {total:,} bytes; {staged.bytes:,} are staged and this part "
            f"of {len(msg.data):,} would pass the end"
        )
    k.stage_part(ctx.store, task.id, msg.round, worker, msg.data)
    ctx.events.emit("reveal_part", task_id=task.id, round=msg.round, worker=msg.worker, part=msg.index)


def _check_samples(k: TasksKeeper, ctx: Context, num_samples: int) -> None:
    """num_samples weights the mean: over tasks.max_num_samples it is refused, so no worker can
    outweigh the others (or push the round's total weight over the rules' bound) by declaring more."""
    cap = k.get_params(ctx.store).max_num_samples
    if num_samples > cap:
        raise ErrTooManySamples.wrap(
            f"num_samples {num_samples} is over tasks.max_num_samples ({cap}); declare at most {cap}"
        )


def _reveal(k: TasksKeeper, ctx: Context, msg: tx_pb2.MsgRevealUpdate) -> None:
    """Check the update (staged parts, then msg.update) against its commitment, size and range;
    keep it until aggregation."""
    worker = decode_address(msg.worker)
    task = _require_revealable(k, ctx, msg.task_id, msg.round, worker, msg.worker)
    _check_samples(k, ctx, msg.num_samples)
    commitment = k.get_commitment(ctx.store, task.id, msg.round, worker)
    assert commitment is not None  # _require_revealable checked it
    staged = k.get_staged(ctx.store, task.id, msg.round, worker)
    payload = k.read_staged(ctx.store, task.id, msg.round, worker, staged.parts) + msg.update
    size = model_param_count(task.model)
    try:
        update = UPDATE_FORMAT.decode(payload, size)
    except FixedPointError as e:
        where = f" ({staged.parts} staged parts of {staged.bytes:,} bytes, then {len(msg.update):,})"
        raise ErrBadUpdate.wrap(str(e) + (where if staged.parts else "")) from None
    if task.trace.every_steps:
        max_checkpoints = k.get_params(ctx.store).max_trace_checkpoints
        check_trace(task, size, update, msg.trace, msg.data_spec, max_checkpoints)
    elif msg.trace or msg.data_spec:
        raise ErrBadUpdate.wrap(f"task {task.id} takes no training trace; leave trace and data_spec empty")
    expected = logic.compute_commitment(
        task.id, msg.round, worker, msg.salt, msg.num_samples, payload, msg.trace, msg.data_spec
    )
    if expected != commitment.hash:
        raise ErrCommitmentMismatch.wrap(
            f"the update, salt and num_samples do not hash to {msg.worker}'s commitment for round {msg.round}"
        )
    reveal = tasks_pb2.Reveal(
        worker=msg.worker,
        update_hash=content_hash(payload),
        num_samples=msg.num_samples,
        height=ctx.block.height,
        trace_hash=content_hash(msg.trace) if msg.trace else b"",
        data_spec=msg.data_spec,
    )
    k.set_reveal(ctx.store, task.id, msg.round, worker, reveal, msg.update, msg.trace)
    _count(k, ctx, task, reveals=1)
    ctx.events.emit("reveal_update", task_id=task.id, round=msg.round, worker=msg.worker)


def _cancel(k: TasksKeeper, bank: TasksBank, ctx: Context, msg: tx_pb2.MsgCancelTask) -> None:
    """The owner ends the task before its first round; everything escrowed goes back."""
    task = k.require_task(ctx.store, msg.task_id)
    if task.owner != msg.owner:
        raise ErrNotOwner.wrap(f"task {task.id} belongs to {task.owner}")
    if task.status != tasks_pb2.TASK_STATUS_JOINING:
        raise ErrWrongPhase.wrap(f"task {task.id} can only be cancelled before its first round")
    k.unschedule(ctx.store, logic.compute_join_end(task), task.id)
    close_task(ctx.store, k, bank, task, tasks_pb2.TASK_STATUS_CANCELLED, ctx.events)


def _validate_task_ref(task_id: int, address: str, field: str) -> None:
    """A task id and a signer address."""
    decode_address_field(address, field)
    if task_id == 0:
        raise ErrInvalidTask.wrap("task_id must be positive")


def validate_join(msg: tx_pb2.MsgJoinTask) -> None:
    """Stateless checks of MsgJoinTask."""
    _validate_task_ref(msg.task_id, msg.worker, "worker")


def validate_commit(msg: tx_pb2.MsgCommitUpdate) -> None:
    """Stateless checks of MsgCommitUpdate."""
    _validate_task_ref(msg.task_id, msg.worker, "worker")
    if msg.round == 0:
        raise ErrWrongRound.wrap("rounds are numbered from 1")
    if len(msg.commitment) != HASH_LEN:
        raise ErrBadUpdate.wrap(f"commitment must be {HASH_LEN} bytes, got {len(msg.commitment)}")


def validate_reveal(msg: tx_pb2.MsgRevealUpdate) -> None:
    """Stateless checks of MsgRevealUpdate (size and range need the task: see _reveal)."""
    _validate_task_ref(msg.task_id, msg.worker, "worker")
    if msg.round == 0:
        raise ErrWrongRound.wrap("rounds are numbered from 1")
    if len(msg.salt) != HASH_LEN:
        raise ErrBadUpdate.wrap(f"salt must be {HASH_LEN} bytes, got {len(msg.salt)}")
    if not 1 <= msg.num_samples <= MAX_SAMPLES:
        raise ErrBadUpdate.wrap(f"num_samples must be in [1, {MAX_SAMPLES}], got {msg.num_samples}")


def validate_reveal_part(msg: tx_pb2.MsgRevealPart) -> None:
    """Stateless checks of MsgRevealPart: a part is big enough that a 4M-parameter update has at
    most 128 of them, and whole int16 entries."""
    _validate_task_ref(msg.task_id, msg.worker, "worker")
    if msg.round == 0:
        raise ErrWrongRound.wrap("rounds are numbered from 1")
    if len(msg.data) < MIN_PART_BYTES or len(msg.data) % UPDATE_FORMAT.width:
        raise ErrBadUpdate.wrap(
            f"a part must be at least {MIN_PART_BYTES:,} bytes of whole {UPDATE_FORMAT.width}-byte entries, "
            f"got {len(msg.data):,} (send a smaller update whole in MsgRevealUpdate)"
        )


def validate_cancel(msg: tx_pb2.MsgCancelTask) -> None:
    """Stateless checks of MsgCancelTask."""
    _validate_task_ref(msg.task_id, msg.owner, "owner")


def routes(k: TasksKeeper, bank: TasksBank) -> list[MsgRoute]:
    """The tasks module's message routes."""
    return [
        MsgRoute(
            tx_pb2.MsgPostTask, lambda m: m.owner, validate_post_task, lambda c, m: _post(k, bank, c, m)
        ),
        MsgRoute(tx_pb2.MsgJoinTask, lambda m: m.worker, validate_join, lambda c, m: _join(k, bank, c, m)),
        MsgRoute(tx_pb2.MsgCommitUpdate, lambda m: m.worker, validate_commit, lambda c, m: _commit(k, c, m)),
        MsgRoute(
            tx_pb2.MsgRevealPart, lambda m: m.worker, validate_reveal_part, lambda c, m: _reveal_part(k, c, m)
        ),
        MsgRoute(tx_pb2.MsgRevealUpdate, lambda m: m.worker, validate_reveal, lambda c, m: _reveal(k, c, m)),
        MsgRoute(
            tx_pb2.MsgCancelTask, lambda m: m.owner, validate_cancel, lambda c, m: _cancel(k, bank, c, m)
        ),
    ]
