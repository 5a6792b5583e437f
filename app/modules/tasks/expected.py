"""What the tasks module needs from other modules, declared by the consumer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.core.coins import Coins
from app.core.events import EventManager
from app.state.kv import KVStore
from synod.tasks.v1 import tasks_pb2

__all__ = ["Judgement", "TasksBank", "UpdateJudge"]


class TasksBank(Protocol):
    """Escrow rewards and worker stakes in the tasks module account, and release them."""

    def send_coins_from_account_to_module(
        self, store: KVStore, sender: bytes, module: str, coins: Coins
    ) -> None: ...

    def send_coins_from_module_to_account(
        self, store: KVStore, module: str, recipient: bytes, coins: Coins
    ) -> None: ...

    def burn_coins(self, store: KVStore, module: str, coins: Coins) -> None: ...


@dataclass(frozen=True)
class Judgement:
    """A judged round: per accepted worker (aggregation weight in bps, reward points); the rejected.

    The aggregation weight scales the worker's sample count for weighted rules (its reputation);
    reward points accumulate in Participant.reward_points and split the reward when the task ends.
    Rejected workers (failed scores, failed spot checks, replays) are slashed by the tasks module.
    """

    accepted: dict[bytes, tuple[int, int]]
    rejected: list[bytes]


class UpdateJudge(Protocol):
    """Scores a round's revealed updates and decides which go into the aggregate.

    The committee module implements it: get_scoring_work prices open_scoring against the tasks
    block budget (entry operations, logic.compute_step_work) and get_judging_work prices judge_round's
    own work (the near-copy check) the same way, open_scoring samples the round's
    committee when the reveal phase closes (tasks with score_blocks > 0), judge_round turns its
    attestations into a Judgement when the round ends, and pop_committee_rewards splits the
    committee's share of the reward among its members when the task finishes.
    """

    def get_scoring_work(self, store: KVStore) -> int: ...

    def get_judging_work(self, store: KVStore, task: tasks_pb2.Task, reveals: int) -> int: ...

    def open_scoring(
        self,
        store: KVStore,
        task: tasks_pb2.Task,
        round_: int,
        revealed: list[bytes],
        height: int,
        events: EventManager,
    ) -> None: ...

    def judge_round(
        self,
        store: KVStore,
        task: tasks_pb2.Task,
        round_: int,
        reveals: dict[bytes, tasks_pb2.Reveal],
        missed: list[bytes],
        height: int,
        events: EventManager,
    ) -> Judgement: ...

    def pop_committee_rewards(
        self, store: KVStore, task: tasks_pb2.Task, reward: int
    ) -> dict[bytes, int]: ...
