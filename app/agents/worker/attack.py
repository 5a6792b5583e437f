"""A malicious worker's round (`synod worker run --attack SPEC`): poisoned labels, then a crafted update.

On the wire an attacking worker is any worker: it joins, commits and reveals the same messages (a
withholding one commits and never reveals). What changes is what it trains on
(attack.poison_labels) and which update it commits to (attack.craft_update, app/ml/attacks). On a
trace task the chain accepts only the update a trace's end points determine, so the attacker
forges the trace's last checkpoint to land on its update: the chain cannot tell, and only a
committee member who re-executes the last segment catches it (app/ml/trace.py). A free rider keeps
the updates others reveal, fetched while their round is open, because the chain drops them at the
round's end-block.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from app.agents.training import Relabel, TrainedUpdate, TrainingError, compute_train_seed
from app.client.rpc import QueryFailed
from app.client.tasks import TasksClient
from app.core.architectures import model_param_count
from app.core.fixedpoint import (
    UPDATE_FORMAT,
    WEIGHT_FORMAT,
    compute_next_weights,
    compute_update_between,
    content_hash,
)
from app.ml.attacks import AttackContext, WorkerAttack
from app.ml.quantize import UPDATE_SPEC, WEIGHT_SPEC, QuantizationError, dequantize, quantize
from synod.tasks.v1 import tasks_pb2

__all__ = ["Attacker", "RoundInputs", "compute_attacked_update", "forge_trace_end"]

# Attacks whose craft_update reads what other workers revealed (AttackContext.public_updates).
_NEEDS_PUBLIC = frozenset({"free_ride", "near_copy"})


@dataclass(frozen=True, eq=False)
class RoundInputs:
    """What the attack may know besides the honest update: the round, the model, the others' updates."""

    round: int
    seed: int
    weights: bytes  # the round's global model, WEIGHT_FORMAT
    size: int
    n_workers: int
    public_updates: tuple[bytes, ...] = ()  # UPDATE_FORMAT, revealed in earlier rounds, oldest first
    previous_weights: bytes | None = None  # the model before the last round, for its change


def forge_trace_end(trace: bytes, size: int, update: NDArray[np.int64]) -> tuple[NDArray[np.int64], bytes]:
    """Replace a trace's last checkpoint by first + update; return the update it now determines, and it.

    The returned update equals the given one unless the weight bound clipped the forged checkpoint.
    """
    width = size * WEIGHT_FORMAT.width
    first = WEIGHT_FORMAT.decode(trace[:width], size)
    last = compute_next_weights(first, update)
    return compute_update_between(first, last), trace[:-width] + WEIGHT_FORMAT.encode(last)


def _context(inputs: RoundInputs, honest: NDArray[np.int64]) -> AttackContext:
    """The attack's view of the round, every vector as float32 in model units."""
    own = dequantize(honest, UPDATE_SPEC)
    weights = dequantize(WEIGHT_FORMAT.decode(inputs.weights, inputs.size), WEIGHT_SPEC)
    delta = None
    if inputs.previous_weights is not None:
        before = dequantize(WEIGHT_FORMAT.decode(inputs.previous_weights, inputs.size), WEIGHT_SPEC)
        delta = (weights.astype(np.float64) - before.astype(np.float64)).astype(np.float32)
    return AttackContext(
        round=inputs.round,
        seed=inputs.seed,
        honest_update=own,
        colluder_updates=[own],  # no colluders to share with: the worker's own update stands in
        public_updates=[
            dequantize(UPDATE_FORMAT.decode(p, inputs.size), UPDATE_SPEC) for p in inputs.public_updates
        ],
        current_weights=weights,
        n_workers=inputs.n_workers,
        previous_global_delta=delta,
    )


def compute_attacked_update(
    attack: WorkerAttack, trained: TrainedUpdate, inputs: RoundInputs
) -> TrainedUpdate | None:
    """The update to commit to instead of trained (None: withhold the reveal); traces forged to match."""
    honest = UPDATE_FORMAT.decode(trained.update, inputs.size)
    crafted = attack.craft_update(_context(inputs, honest))
    if crafted is None:
        return None
    try:
        update = quantize(crafted, UPDATE_SPEC)
    except QuantizationError as e:
        raise TrainingError(f"round {inputs.round}: the {attack.name} attack's update: {e}") from None
    if np.array_equal(update, honest):
        return trained  # label_flip: the honest trace of poisoned training stands as it is
    if not trained.trace:
        return replace(trained, update=UPDATE_FORMAT.encode(update))
    update, trace = forge_trace_end(trained.trace, inputs.size, update)
    return replace(trained, update=UPDATE_FORMAT.encode(update), trace=trace)


class Attacker:
    """One worker's attack across rounds: its labels, the updates it has seen, what it commits to."""

    def __init__(self, attack: WorkerAttack, tasks: TasksClient, task_id: int, address: str) -> None:
        self.attack = attack
        self.tasks = tasks
        self.task_id = task_id
        self.address = address
        self.needs_history = attack.name in _NEEDS_PUBLIC
        self._seen: dict[tuple[int, int, str], bytes] = {}  # (round, reveal height, worker) -> update

    @property
    def relabel(self) -> Relabel:
        """The labels the worker trains on."""
        return self.attack.poison_labels

    def collect(self, round_: int) -> int:
        """Fetch the updates others revealed in round_ that we have not kept yet; return how many."""
        if not self.needs_history:
            return 0
        state = self.tasks.round_state(self.task_id, round_)
        kept = {(r, w) for r, _, w in self._seen}
        fresh = 0
        for reveal in state.reveals:
            if reveal.worker == self.address or (round_, reveal.worker) in kept:
                continue
            try:
                resp = self.tasks.update(self.task_id, round_, reveal.worker)
            except QueryFailed:
                continue  # the round closed between the listing and the fetch
            if content_hash(resp.update) == resp.reveal.update_hash:
                self._seen[(round_, reveal.height, reveal.worker)] = resp.update
                fresh += 1
        return fresh

    def public_updates(
        self, before_round: int, accepted: frozenset[bytes] = frozenset()
    ) -> tuple[bytes, ...]:
        """The updates kept from rounds before before_round, oldest first, those the chain accepted
        (their hashes in accepted) after the rest: a copier copies an update that passed."""
        kept = [(key, update) for key, update in sorted(self._seen.items()) if key[0] < before_round]
        kept.sort(key=lambda item: content_hash(item[1]) in accepted)  # stable: oldest first in each part
        return tuple(update for _, update in kept)

    def craft(
        self,
        task: tasks_pb2.Task,
        round_: int,
        trained: TrainedUpdate,
        weights: bytes,
        previous_weights: bytes | None = None,
        accepted: frozenset[bytes] = frozenset(),
    ) -> TrainedUpdate | None:
        """The update to commit to this round, or None to commit to trained and never reveal.

        accepted: hashes of the updates the chain aggregated in earlier rounds (RoundRecord).
        """
        m = task.model
        inputs = RoundInputs(
            round_,
            compute_train_seed(task.id, round_, self.address),
            weights,
            model_param_count(m),
            task.worker_count,
            self.public_updates(round_, accepted),
            previous_weights,
        )
        return compute_attacked_update(self.attack, trained, inputs)
