"""A Chain with tasks-module helpers: post a small task, join, commit and reveal updates."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from app.client.tasktx import msg_commit, msg_join, msg_reveal
from app.core.architectures import param_count
from app.core.crypto import decode_address
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT
from app.modules.tasks import logic
from synod.base.v1 import coin_pb2
from synod.tasks.v1 import tasks_pb2, tx_pb2
from tests.integration.harness import DENOM, Chain, test_key

ARCH, N_FEATURES, N_CLASSES = "logreg", 8, 3
SIZE = param_count(ARCH, N_FEATURES, N_CLASSES)
TASK_GAS = 2_000_000


def initial_weights(seed: int = 0) -> np.ndarray:
    """Deterministic int32 fixed-point starting weights within +-1.0."""
    return np.random.default_rng(seed).integers(-(1 << 16), 1 << 16, SIZE, dtype=np.int64)


def update_vector(seed: int) -> np.ndarray:
    """A deterministic int16 fixed-point update within +-0.5."""
    return np.random.default_rng(seed).integers(-(1 << 11), 1 << 11, SIZE, dtype=np.int64)


def post_msg(owner: str, **overrides: object) -> tx_pb2.MsgPostTask:
    """A valid MsgPostTask for a tiny logreg task; overrides replace top-level fields."""
    msg = tx_pb2.MsgPostTask(
        owner=test_key(owner).address,
        description="tiny",
        model=tasks_pb2.ModelSpec(arch=ARCH, n_features=N_FEATURES, n_classes=N_CLASSES),
        hyper=tasks_pb2.Hyperparams(
            optimizer="sgd", learning_rate_ppm=100_000, batch_size=16, local_epochs=1
        ),
        data=tasks_pb2.DataRef(
            dataset="wine", eval_data="wine:test:split=0", eval_hash=hashlib.sha256(b"e").digest()
        ),
        schedule=tasks_pb2.Schedule(rounds=3, join_blocks=2, commit_blocks=2, reveal_blocks=2),
        min_workers=2,
        max_workers=3,
        worker_stake=coin_pb2.Coin(denom=DENOM, amount="1000"),
        reward=coin_pb2.Coin(denom=DENOM, amount="9001"),
        aggregation=tasks_pb2.Aggregation(rule="mean"),
        initial_weights=WEIGHT_FORMAT.encode(initial_weights()),
    )
    for name, value in overrides.items():
        if isinstance(
            value, tasks_pb2.Schedule | tasks_pb2.ModelSpec | tasks_pb2.Aggregation | tasks_pb2.Hyperparams
        ):
            getattr(msg, name).CopyFrom(value)
        else:
            setattr(msg, name, value)
    return msg


@dataclass
class TaskChain:
    """A chain plus the salts and updates each worker committed, so it can reveal them later."""

    chain: Chain = field(default_factory=Chain)
    pending: dict[tuple[str, int], tuple[bytes, int, bytes]] = field(default_factory=dict)

    @property
    def app(self):  # noqa: ANN201
        return self.chain.app

    def run(self, *txs: bytes):  # noqa: ANN201
        """One block with txs; returns the FinalizeBlock response."""
        resp = self.chain.block(list(txs))
        self.chain.resync_sequences()
        return resp

    def advance_to(self, height: int) -> None:
        """Empty blocks until the last committed height is height - 1 (the next block is height)."""
        while self.app.store.height < height - 1:
            self.chain.block([])

    def advance_to_phase(self, name: str, round_: int, task_id: int = 1, limit: int = 500) -> None:
        """Empty blocks until the next block is in round round_'s phase name (logic.compute_phase)."""
        for _ in range(limit):
            phase = logic.compute_phase(self.task(task_id))
            if (phase.name, phase.round) == (name, round_):
                return
            self.chain.block([])
        raise AssertionError(f"task {task_id} never reached round {round_}'s {name} phase")

    def advance_past_round(self, round_: int, task_id: int = 1, limit: int = 500) -> None:
        """Empty blocks until round round_ is aggregated (or the task is closed)."""
        for _ in range(limit):
            task = self.task(task_id)
            if task.rounds_done >= round_ or task.status != tasks_pb2.TASK_STATUS_RUNNING:
                return
            self.chain.block([])
        raise AssertionError(f"task {task_id} never closed round {round_}")

    def post(self, owner: str = "alice", **overrides: object) -> bytes:
        return self.chain.tx(owner, [post_msg(owner, **overrides)], gas=TASK_GAS)

    def join(self, worker: str, task_id: int = 1) -> bytes:
        return self.chain.tx(worker, [msg_join(test_key(worker).address, task_id)])

    def commit(
        self, worker: str, round_: int, vector: np.ndarray, samples: int = 100, task_id: int = 1
    ) -> bytes:
        """Commit to vector, remembering salt and payload for the reveal."""
        salt = hashlib.sha256(f"{worker}/{round_}".encode()).digest()
        payload = UPDATE_FORMAT.encode(vector)
        self.pending[(worker, round_)] = (salt, samples, payload)
        return self.chain.tx(
            worker, [msg_commit(test_key(worker).address, task_id, round_, salt, samples, payload)]
        )

    def reveal(self, worker: str, round_: int, task_id: int = 1, **change: object) -> bytes:
        """Reveal what worker committed; change= overrides salt, num_samples or update."""
        salt, samples, payload = self.pending[(worker, round_)]
        msg = msg_reveal(test_key(worker).address, task_id, round_, salt, samples, payload)
        for name, value in change.items():
            setattr(msg, name, value)
        return self.chain.tx(worker, [msg], gas=TASK_GAS)

    def task(self, task_id: int = 1) -> tasks_pb2.Task:
        return self.app.tasks.require_task(self.app.store.view, task_id)

    def participant(self, worker: str, task_id: int = 1) -> tasks_pb2.Participant:
        p = self.app.tasks.get_participant(
            self.app.store.view, task_id, decode_address(test_key(worker).address)
        )
        assert p is not None
        return p
