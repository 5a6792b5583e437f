"""tasks keeper: owns the tasks prefix store (tasks, participants, round state, checkpoints)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from app.core.codec import from_u64be, u64be
from app.core.fixedpoint import content_hash
from app.modules.tasks import keys, logic
from app.modules.tasks.errors import ErrTaskNotFound
from app.modules.tasks.params import default_params
from app.state.kv import KVReader, KVStore, PrefixReader, PrefixStore
from synod.tasks.v1 import tasks_pb2

__all__ = ["TasksKeeper", "TASKS_ESCROW", "read_update"]

# The module account that escrows rewards and worker stakes.
TASKS_ESCROW = "tasks"


def _put(ps: PrefixStore, key: bytes, msg: object) -> None:
    """Store a proto message under key in its deterministic encoding."""
    ps.set(key, msg.SerializeToString(deterministic=True))  # type: ignore[attr-defined]


def read_update(
    get: Callable[[bytes], bytes | None], task_id: int, round_: int, worker: bytes
) -> bytes | None:
    """A revealed update from module-relative keys: its staged parts in order, then the payload the
    reveal carried; None before the reveal (or once the round is aggregated)."""
    tail = get(keys.update_key(task_id, round_, worker))
    if tail is None:
        return None
    raw = get(keys.staged_key(task_id, round_, worker))
    if not raw:
        return tail
    count = tasks_pb2.StagedUpdate.FromString(raw).parts
    parts = [get(keys.part_key(task_id, round_, worker, i)) for i in range(count)]
    assert all(p is not None for p in parts)  # a StagedUpdate counts only parts it stored
    return b"".join(parts) + tail  # type: ignore[arg-type]


class TasksKeeper:
    """Reads and writes tasks state; input validation lives in msg_server."""

    def _store(self, store: KVStore) -> PrefixStore:
        return PrefixStore(store, keys.STORE_PREFIX)

    def _read(self, store: KVReader) -> PrefixReader:
        return PrefixReader(store, keys.STORE_PREFIX)

    def get_params(self, store: KVReader) -> tasks_pb2.Params:
        """Current params."""
        raw = self._read(store).get(keys.PARAMS)
        return tasks_pb2.Params.FromString(raw) if raw else default_params()

    def set_params(self, store: KVStore, params: tasks_pb2.Params) -> None:
        """Store params."""
        _put(self._store(store), keys.PARAMS, params)

    def next_task_id(self, store: KVStore) -> int:
        """Allocate the next task id (ids start at 1)."""
        ps = self._store(store)
        raw = ps.get(keys.NEXT_TASK_ID)
        task_id = from_u64be(raw) if raw else 1
        ps.set(keys.NEXT_TASK_ID, u64be(task_id + 1))
        return task_id

    def get_task(self, store: KVReader, task_id: int) -> tasks_pb2.Task | None:
        """One task, or None."""
        raw = self._read(store).get(keys.task_key(task_id))
        return tasks_pb2.Task.FromString(raw) if raw else None

    def require_task(self, store: KVReader, task_id: int) -> tasks_pb2.Task:
        """One task, or ErrTaskNotFound."""
        task = self.get_task(store, task_id)
        if task is None:
            raise ErrTaskNotFound.wrap(f"no task with id {task_id}; list them with `synod query task list`")
        return task

    def set_task(self, store: KVStore, task: tasks_pb2.Task) -> None:
        """Store a task."""
        _put(self._store(store), keys.task_key(task.id), task)

    def iterate_tasks(self, store: KVReader) -> Iterator[tasks_pb2.Task]:
        """Every task by id."""
        for _, raw in self._read(store).iterate(keys.TASK):
            yield tasks_pb2.Task.FromString(raw)

    def get_score_phase(self, store: KVReader, task_id: int) -> tuple[int, int, int] | None:
        """(round, first height, last height) of a running task's open score phase, or None when the
        task is not in one (a closing phase included)."""
        task = self.get_task(store, task_id)
        if task is None or task.status != tasks_pb2.TASK_STATUS_RUNNING:
            return None
        phase = logic.compute_phase(task)
        if phase.name != logic.SCORE:
            return None
        return phase.round, task.phase_start_height, phase.end_height

    def start_phase(
        self, store: KVStore, task: tasks_pb2.Task, phase: tasks_pb2.TaskPhase, height: int
    ) -> None:
        """Begin a round phase of task at height (a commit phase: a new round, counters at zero), store
        the task and schedule the end-block of the phase's deadline."""
        task.phase, task.phase_start_height = phase, height
        if phase == tasks_pb2.TASK_PHASE_COMMIT:
            task.round_start_height = height
            self.set_progress(store, task.id, tasks_pb2.RoundProgress())
        self.set_task(store, task)
        self.schedule(store, logic.compute_phase(task).end_height, task.id)

    def get_progress(self, store: KVReader, task_id: int) -> tasks_pb2.RoundProgress:
        """The open round's commitment and reveal counts (zero when none is open)."""
        raw = self._read(store).get(keys.progress_key(task_id))
        return tasks_pb2.RoundProgress.FromString(raw) if raw else tasks_pb2.RoundProgress()

    def set_progress(self, store: KVStore, task_id: int, progress: tasks_pb2.RoundProgress) -> None:
        """Store the open round's counts."""
        _put(self._store(store), keys.progress_key(task_id), progress)

    def clear_progress(self, store: KVStore, task_id: int) -> None:
        """Drop the counts of a task that has closed."""
        self._store(store).delete(keys.progress_key(task_id))

    def close_phase_now(self, store: KVStore, task_id: int, height: int) -> None:
        """The running task's current phase has all its work: end it in the end-block of height,
        instead of at its deadline (early close; a no-op for a task that is not running)."""
        task = self.get_task(store, task_id)
        if task is None or task.status != tasks_pb2.TASK_STATUS_RUNNING or task.closed_height:
            return  # a closing phase takes no messages, so nothing can complete it again
        self.unschedule(store, logic.compute_phase(task).end_height, task_id)
        self.schedule(store, height, task_id)

    def get_participant(self, store: KVReader, task_id: int, worker: bytes) -> tasks_pb2.Participant | None:
        """One worker of a task, or None."""
        raw = self._read(store).get(keys.participant_key(task_id, worker))
        return tasks_pb2.Participant.FromString(raw) if raw else None

    def set_participant(self, store: KVStore, worker: bytes, p: tasks_pb2.Participant) -> None:
        """Store a participant."""
        _put(self._store(store), keys.participant_key(p.task_id, worker), p)

    def iterate_participants(
        self, store: KVReader, task_id: int
    ) -> Iterator[tuple[bytes, tasks_pb2.Participant]]:
        """(worker address, participant) of a task, by address."""
        prefix = keys.participant_key(task_id)
        for k, raw in self._read(store).iterate(prefix):
            yield k[len(prefix) :], tasks_pb2.Participant.FromString(raw)

    def get_commitment(
        self, store: KVReader, task_id: int, round_: int, worker: bytes
    ) -> tasks_pb2.Commitment | None:
        """A worker's commitment for a round, or None."""
        raw = self._read(store).get(keys.commitment_key(task_id, round_, worker))
        return tasks_pb2.Commitment.FromString(raw) if raw else None

    def set_commitment(
        self, store: KVStore, task_id: int, round_: int, worker: bytes, c: tasks_pb2.Commitment
    ) -> None:
        """Store a commitment."""
        _put(self._store(store), keys.commitment_key(task_id, round_, worker), c)

    def iterate_commitments(
        self, store: KVReader, task_id: int, round_: int
    ) -> Iterator[tuple[bytes, tasks_pb2.Commitment]]:
        """(worker, commitment) of a round, by worker address."""
        prefix = keys.commitment_key(task_id, round_)
        for k, raw in self._read(store).iterate(prefix):
            yield k[len(prefix) :], tasks_pb2.Commitment.FromString(raw)

    def get_reveal(
        self, store: KVReader, task_id: int, round_: int, worker: bytes
    ) -> tasks_pb2.Reveal | None:
        """A worker's reveal for a round, or None."""
        raw = self._read(store).get(keys.reveal_key(task_id, round_, worker))
        return tasks_pb2.Reveal.FromString(raw) if raw else None

    def set_reveal(
        self,
        store: KVStore,
        task_id: int,
        round_: int,
        worker: bytes,
        reveal: tasks_pb2.Reveal,
        update: bytes,
        trace: bytes = b"",
    ) -> None:
        """Store a reveal, its update payload and (trace tasks) its training trace."""
        ps = self._store(store)
        _put(ps, keys.reveal_key(task_id, round_, worker), reveal)
        ps.set(keys.update_key(task_id, round_, worker), update)
        if trace:
            ps.set(keys.trace_key(task_id, round_, worker), trace)

    def iterate_reveals(
        self, store: KVReader, task_id: int, round_: int
    ) -> Iterator[tuple[bytes, tasks_pb2.Reveal]]:
        """(worker, reveal) of a round, by worker address."""
        prefix = keys.reveal_key(task_id, round_)
        for k, raw in self._read(store).iterate(prefix):
            yield k[len(prefix) :], tasks_pb2.Reveal.FromString(raw)

    def get_update(self, store: KVReader, task_id: int, round_: int, worker: bytes) -> bytes | None:
        """A revealed update (staged parts and the reveal's payload), or None (also once aggregated)."""
        return read_update(self._read(store).get, task_id, round_, worker)

    def get_staged(self, store: KVReader, task_id: int, round_: int, worker: bytes) -> tasks_pb2.StagedUpdate:
        """The parts a worker staged for its reveal (zero when none)."""
        raw = self._read(store).get(keys.staged_key(task_id, round_, worker))
        return tasks_pb2.StagedUpdate.FromString(raw) if raw else tasks_pb2.StagedUpdate()

    def stage_part(self, store: KVStore, task_id: int, round_: int, worker: bytes, data: bytes) -> None:
        """Append one part to a worker's staged update."""
        ps = self._store(store)
        staged = self.get_staged(store, task_id, round_, worker)
        ps.set(keys.part_key(task_id, round_, worker, staged.parts), data)
        staged.parts += 1
        staged.bytes += len(data)
        _put(ps, keys.staged_key(task_id, round_, worker), staged)

    def read_staged(self, store: KVReader, task_id: int, round_: int, worker: bytes, count: int) -> bytes:
        """The first count staged parts of a worker, joined (every read metered by the store)."""
        ps = self._read(store)
        return b"".join(ps.get(keys.part_key(task_id, round_, worker, i)) or b"" for i in range(count))

    def get_trace(self, store: KVReader, task_id: int, round_: int, worker: bytes) -> bytes | None:
        """A revealed training trace, or None (also once its round is aggregated)."""
        return self._read(store).get(keys.trace_key(task_id, round_, worker))

    def clear_round(self, store: KVStore, task_id: int, round_: int) -> None:
        """Delete a round's commitments, reveals, payloads and traces (its checkpoint record stays)."""
        ps = self._store(store)
        for prefix in (
            keys.commitment_key(task_id, round_),
            keys.reveal_key(task_id, round_),
            keys.update_key(task_id, round_),
            keys.trace_key(task_id, round_),
            keys.part_key(task_id, round_),
            keys.staged_key(task_id, round_),
        ):
            # Keys only: a round's parts and payloads may hold gigabytes the list must not keep.
            for k in [k for k, _ in ps.iterate(prefix)]:
                ps.delete(k)

    def get_round(self, store: KVReader, task_id: int, round_: int) -> tasks_pb2.RoundRecord | None:
        """A round's checkpoint record, or None."""
        raw = self._read(store).get(keys.round_key(task_id, round_))
        return tasks_pb2.RoundRecord.FromString(raw) if raw else None

    def set_round(self, store: KVStore, record: tasks_pb2.RoundRecord) -> None:
        """Store a round's checkpoint record."""
        _put(self._store(store), keys.round_key(record.task_id, record.round), record)

    def iterate_rounds(self, store: KVReader, task_id: int) -> Iterator[tasks_pb2.RoundRecord]:
        """A task's checkpoint records by round."""
        for _, raw in self._read(store).iterate(keys.round_key(task_id)):
            yield tasks_pb2.RoundRecord.FromString(raw)

    def retain_model(self, store: KVStore, weights: bytes) -> bytes:
        """Store weights by content hash for one more round record; return the hash."""
        model_hash = content_hash(weights)
        ps = self._store(store)
        if ps.get(keys.model_key(model_hash)) is None:
            ps.set(keys.model_key(model_hash), weights)
        self._add_ref(ps, model_hash, 1)
        return model_hash

    def retain_model_hash(self, store: KVStore, model_hash: bytes) -> None:
        """One more round record keeps weights already stored (a skipped round carries them over)."""
        self._add_ref(self._store(store), model_hash, 1)

    def release_model(self, store: KVStore, model_hash: bytes) -> None:
        """A round record lets its weights go; the last one to do so deletes them."""
        self._add_ref(self._store(store), model_hash, -1)

    def _add_ref(self, ps: PrefixStore, model_hash: bytes, delta: int) -> None:
        """Move a checkpoint's reference count; at zero its weights and count are deleted."""
        raw = ps.get(keys.model_refs_key(model_hash))
        count = (from_u64be(raw) if raw else 0) + delta
        assert count >= 0  # every release follows a retain of the same record
        if count:
            ps.set(keys.model_refs_key(model_hash), u64be(count))
        else:
            ps.delete(keys.model_refs_key(model_hash))
            ps.delete(keys.model_key(model_hash))

    def get_model(self, store: KVReader, model_hash: bytes) -> bytes | None:
        """Weights by content hash, or None."""
        return self._read(store).get(keys.model_key(model_hash))

    def schedule(self, store: KVStore, height: int, task_id: int) -> None:
        """Ask the end-block of height to process the task."""
        self._store(store).set(keys.schedule_key(height, task_id), b"")

    def unschedule(self, store: KVStore, height: int, task_id: int) -> None:
        """Withdraw a scheduled end-block visit."""
        self._store(store).delete(keys.schedule_key(height, task_id))

    def pop_scheduled(self, store: KVStore, height: int) -> list[int]:
        """Remove and return the task ids scheduled at height, in id order."""
        ps = self._store(store)
        prefix = keys.schedule_key(height)
        entries = [k for k, _ in ps.iterate(prefix)]
        for k in entries:
            ps.delete(k)
        return [from_u64be(k[len(prefix) :]) for k in entries]

    def set_closing(self, store: KVStore, task: tasks_pb2.Task, height: int) -> None:
        """The task's phase closed in the end-block of height, but its end-block work waits for the
        block budget: mark the task closing (no message of the phase is accepted) and queue it."""
        task.closed_height = height
        self.set_task(store, task)
        self._store(store).set(keys.closing_key(height, task.id), b"")

    def clear_closing(self, store: KVStore, task: tasks_pb2.Task) -> None:
        """Take a closing task off the queue before its end-block work runs (which stores the task)."""
        self._store(store).delete(keys.closing_key(task.closed_height, task.id))
        task.closed_height = 0

    def iterate_closing(self, store: KVReader) -> Iterator[int]:
        """Task ids of the closed phases waiting for the block budget, oldest closing height first,
        then by task id (lazily: the end-block reads only as many as it can run)."""
        for k, _ in self._read(store).iterate(keys.closing_key()):
            yield from_u64be(k[-8:])
