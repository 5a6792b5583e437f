"""What the committee module needs from other modules, declared by the consumer."""

from __future__ import annotations

from typing import Protocol

from app.state.kv import KVStore
from synod.staking.v1 import staking_pb2

__all__ = ["CommitteeStaking", "CommitteeTasks", "CommitteeUpdates", "Slashed"]


class Slashed(Protocol):
    """What staking's slash reports."""

    @property
    def total(self) -> int: ...


class CommitteeStaking(Protocol):
    """Validators (who may serve), their last voting powers (seat weights), and slashing."""

    def get_validator(self, store: KVStore, operator: bytes) -> staking_pb2.Validator | None: ...

    def get_last_powers(self, store: KVStore) -> dict[bytes, int]: ...

    def slash(
        self, store: KVStore, operator: bytes, infraction_height: int, power: int, fraction_bps: int
    ) -> Slashed: ...


class CommitteeTasks(Protocol):
    """A task's open score phase (round, first and last height: attestations are committed and
    revealed only inside it), and the early close of a score phase once every seat has revealed."""

    def get_score_phase(self, store: KVStore, task_id: int) -> tuple[int, int, int] | None: ...

    def close_phase_now(self, store: KVStore, task_id: int, height: int) -> None: ...


class CommitteeUpdates(Protocol):
    """A revealed update's payload (UPDATE_FORMAT), for the near-copy check: None once aggregated."""

    def get_update(self, store: KVStore, task_id: int, round_: int, worker: bytes) -> bytes | None: ...
