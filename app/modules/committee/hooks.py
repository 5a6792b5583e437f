"""committee block work: sample a committee when a round's reveal phase closes, judge it when it ends.

CommitteeJudge is the tasks module's UpdateJudge (tasks/expected.py). Tasks without a score phase
(score_blocks = 0) have no committee: their non-replayed updates are accepted unscored.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from app.core.architectures import model_param_count
from app.core.crypto import decode_address, encode_address
from app.core.events import EventManager
from app.core.fixedpoint import UPDATE_FORMAT
from app.modules.committee import epochs, logic, nearcopy
from app.modules.committee.expected import CommitteeStaking, CommitteeUpdates
from app.modules.committee.keeper import CommitteeKeeper
from app.modules.tasks.expected import Judgement
from app.state.kv import KVStore
from synod.committee.v1 import committee_pb2
from synod.tasks.v1 import tasks_pb2

__all__ = ["CommitteeJudge"]

_BAD = (
    committee_pb2.VERDICT_FAILED_SCORE,
    committee_pb2.VERDICT_FAILED_DIRECTION,
    committee_pb2.VERDICT_FAILED_SPOT_CHECK,
    committee_pb2.VERDICT_REPLAYED,
)

# Sampling's price in the tasks block budget's entry operations (about 7.5 ns each at the speed
# bench/growth measures): reading and decoding each member, and for each seat a pass over the pool.
_MEMBER_WORK = 1 << 10
_SEAT_WORK = 1 << 4


def _exclude(verdicts: logic.RoundVerdicts, workers: frozenset[bytes]) -> logic.RoundVerdicts:
    """The verdicts with workers' updates marked VERDICT_NEAR_COPY_EXCLUDED (their medians kept)."""
    updates = {
        w: (committee_pb2.VERDICT_NEAR_COPY_EXCLUDED, median) if w in workers else (verdict, median)
        for w, (verdict, median) in verdicts.updates.items()
    }
    return logic.RoundVerdicts(verdicts.baseline_bps, updates)


def _outcome(verdict: int) -> bool | None:
    """Whether a verdict is good or bad evidence about its worker (None: unscored, no evidence)."""
    if verdict == committee_pb2.VERDICT_ACCEPTED:
        return True
    return False if verdict in _BAD else None


def _direction_rule(params: committee_pb2.Params) -> logic.DirectionRule | None:
    """The direction test the parameters ask for (None when max_norm_ratio_bps is 0: switched off)."""
    if not params.max_norm_ratio_bps:
        return None
    return logic.DirectionRule(params.min_direction_bps, params.max_norm_ratio_bps)


class CommitteeJudge:
    """Samples committees from the beacon seed and turns their attestations into judgements."""

    def __init__(self, k: CommitteeKeeper, staking: CommitteeStaking, updates: CommitteeUpdates) -> None:
        self.k = k
        self.staking = staking
        self.updates = updates

    def get_scoring_work(self, store: KVStore) -> int:
        """What open_scoring costs now, for the tasks block budget: linear in the members it reads,
        times the seats it draws (one stored counter and the params: no scan)."""
        members = self.k.get_member_count(store)
        return members * (_MEMBER_WORK + self.k.get_params(store).max_committee_size * _SEAT_WORK)

    def get_judging_work(self, store: KVStore, task: tasks_pb2.Task, reveals: int) -> int:
        """What judge_round's near-copy check may cost, for the tasks block budget: `reveals` updates
        against at most max_workers kept ones, on the coordinates max_near_copy_work allows."""
        params = self.k.get_params(store)
        if not params.near_copy_threshold_bps:
            return 0
        size = model_param_count(task.model)
        count = nearcopy.compute_sample_size(reveals, task.max_workers, size, params.max_near_copy_work)
        return nearcopy.compute_near_copy_work(reveals, task.max_workers, count)

    def open_scoring(
        self,
        store: KVStore,
        task: tasks_pb2.Task,
        round_: int,
        revealed: list[bytes],
        height: int,
        events: EventManager,
    ) -> None:
        """Store the round's committee: sampled now from the latest seed while no threshold group
        exists (the bootstrap beacon), else left waiting for the group seed of the first epoch that
        starts after this height (sample_waiting seats it when that seed lands).

        Eligible: members registered before this height whose validator is in the active set, and
        who revealed no update of this round (nobody scores its own update).
        """
        params = self.k.get_params(store)
        size = logic.compute_committee_size(
            params.adversarial_stake_bps, params.capture_target_ppb, params.max_committee_size
        )
        committee = committee_pb2.Committee(
            task_id=task.id,
            round=round_,
            height=height,
            workers=[encode_address(w) for w in revealed],
            target_size=size,
        )
        if self.k.get_group(store) is not None:
            committee.seed_epoch = epochs.compute_seed_epoch(height, params.epoch_blocks)
            self.k.set_committee(store, committee)
            self.k.set_waiting(store, committee.seed_epoch, task.id, round_)
            events.emit("committee_waiting", task_id=task.id, round=round_, epoch=committee.seed_epoch)
            return
        self._seat(store, committee, self.k.get_seed(store), events)

    def sample_waiting(
        self, store: KVStore, seed: committee_pb2.Seed, height: int, events: EventManager
    ) -> None:
        """Seat the committees that waited for this epoch's group seed (at most the rounds whose reveal
        phase closed during one epoch: epoch_blocks blocks of the tasks block budget)."""
        for task_id, round_ in list(self.k.iterate_waiting(store, seed.epoch)):
            self.k.clear_waiting(store, seed.epoch, task_id, round_)
            committee = self.k.get_committee(store, task_id, round_)
            if committee is not None and not committee.seats:
                self._seat(store, committee, seed, events)

    def _seat(
        self,
        store: KVStore,
        committee: committee_pb2.Committee,
        seed: committee_pb2.Seed | None,
        events: EventManager,
    ) -> None:
        """Sample the committee's seats from seed by the last voting powers, store it, emit the event.

        The weights are the powers last sent to CometBFT, which no transaction of this block can
        change, and the seed came from shares signed before this block was proposed.
        """
        powers = self.staking.get_last_powers(store)
        workers = {decode_address(w) for w in committee.workers}
        eligible = [
            (operator, powers[operator])
            for operator, member in self.k.iterate_members(store)
            if member.since_height < committee.height
            and powers.get(operator, 0) > 0
            and operator not in workers
        ]
        task_id, round_ = committee.task_id, committee.round
        seats = (
            logic.compute_committee(seed.seed, task_id, round_, eligible, committee.target_size)
            if seed
            else []
        )
        if seed is not None:
            committee.seed.CopyFrom(seed)
        committee.seats.extend(committee_pb2.Seat(operator=encode_address(op), power=p) for op, p in seats)
        self.k.set_committee(store, committee)
        if not seats:
            reason = "no beacon seed yet" if seed is None else "no eligible member"
            events.emit("committee_unavailable", task_id=task_id, round=round_, reason=reason)
            return
        events.emit(
            "committee_selected",
            task_id=task_id,
            round=round_,
            seats=",".join(s.operator for s in committee.seats),
            target_size=committee.target_size,
        )

    def judge_round(
        self,
        store: KVStore,
        task: tasks_pb2.Task,
        round_: int,
        reveals: dict[bytes, tasks_pb2.Reveal],
        missed: list[bytes],
        height: int,
        events: EventManager,
    ) -> Judgement:
        """Decide every revealed update; update reputations; fault, reward or slash the seats."""
        params = self.k.get_params(store)
        workers = sorted(reveals)
        replayed, twins = self._mark_seen(store, task.id, round_, reveals)
        fresh = [w for w in workers if w not in replayed and w not in twins]
        vectors = self._vectors(store, task.id, round_, fresh)
        near = self._near_copies(store, task.id, round_, reveals, vectors, params, events)
        # Same-round copies, exact (twins) or near, are left out unslashed (README "Near copies").
        left_out = twins | (near.excluded - near.slashed)
        committee = self.k.get_committee(store, task.id, round_)
        if committee is not None and committee.seed_epoch and not committee.seats:
            # Its seed never landed in time: judged unscored, like a round with no seed at all.
            self.k.clear_waiting(store, committee.seed_epoch, task.id, round_)
        attested = self._member_scores(store, committee) if committee else []
        verdicts = logic.compute_verdicts(
            workers,
            attested,
            set(replayed | near.slashed),
            params.max_score_drop_bps,
            _direction_rule(params),
        )
        verdicts = _exclude(verdicts, left_out)
        scores = committee_pb2.RoundScores(
            task_id=task.id, round=round_, baseline_bps=verdicts.baseline_bps, height=height
        )
        accepted: dict[bytes, tuple[int, int]] = {}
        for worker in workers:
            verdict, median = verdicts.updates[worker]
            rep = self._observe(store, worker, _outcome(verdict), params)
            scores.updates.append(
                committee_pb2.UpdateVerdict(
                    worker=encode_address(worker),
                    verdict=verdict,
                    median_bps=median,
                    reputation_bps=rep,
                )
            )
            if verdict not in _BAD and verdict != committee_pb2.VERDICT_NEAR_COPY_EXCLUDED:
                weight = rep if task.schedule.score_blocks else logic.BPS
                accepted[worker] = (weight, logic.compute_reward_points(verdict, median, weight))
        for worker in missed:
            self._observe(store, worker, False, params)
        if committee is not None and committee.seats:
            self._judge_members(store, task.id, committee, attested, verdicts, height, scores, events)
            self.k.clear_attestations(store, task.id, round_)
        self.k.set_scores(store, scores)
        kept = {w: UPDATE_FORMAT.encode(vectors[w]) for w in accepted if w in vectors}
        self.k.set_kept_updates(store, task.id, kept if params.near_copy_threshold_bps else {})
        rejected = [w for w in workers if w not in accepted and w not in left_out]
        return Judgement(accepted, rejected)

    def pop_committee_rewards(self, store: KVStore, task: tasks_pb2.Task, reward: int) -> dict[bytes, int]:
        """The members' share of a task's reward, split by points (rounds attested within tolerance)."""
        self.k.set_kept_updates(store, task.id, {})  # the task is over: nothing left to copy from
        points = self.k.pop_member_points(store, task.id)
        if not points:
            return {}
        pool = reward * self.k.get_params(store).committee_reward_bps // logic.BPS
        total = sum(points.values())
        return {member: pool * p // total for member, p in sorted(points.items())}

    # --- helpers --------------------------------------------------------------------------------

    def _mark_seen(
        self, store: KVStore, task_id: int, round_: int, reveals: dict[bytes, tasks_pb2.Reveal]
    ) -> tuple[frozenset[bytes], frozenset[bytes]]:
        """(workers whose update bytes appeared in an earlier round, workers sharing bytes only with
        another worker of this round); record the new hashes."""
        hashes = {w: reveal.update_hash for w, reveal in reveals.items()}
        seen = {h for h in set(hashes.values()) if self.k.get_update_seen(store, task_id, h) is not None}
        for update_hash in sorted(set(hashes.values()) - seen):
            self.k.set_update_seen(store, task_id, update_hash, round_)
        earlier = frozenset(w for w, h in hashes.items() if h in seen)
        return earlier, frozenset(logic.compute_replayed(hashes, seen)) - earlier

    def _vectors(
        self, store: KVStore, task_id: int, round_: int, workers: list[bytes]
    ) -> dict[bytes, NDArray[np.int64]]:
        """The workers' revealed updates, decoded (still stored: the round is aggregated after this)."""
        out = {}
        for worker in workers:
            payload = self.updates.get_update(store, task_id, round_, worker)
            if payload is not None:
                out[worker] = UPDATE_FORMAT.decode(payload, len(payload) // UPDATE_FORMAT.width)
        return out

    def _near_copies(
        self,
        store: KVStore,
        task_id: int,
        round_: int,
        reveals: dict[bytes, tasks_pb2.Reveal],
        vectors: dict[bytes, NDArray[np.int64]],
        params: committee_pb2.Params,
        events: EventManager,
    ) -> nearcopy.NearCopies:
        """The near copies among this round's updates and the last judged round's kept ones."""
        width = {len(v) for v in vectors.values()}
        kept = {
            w: UPDATE_FORMAT.decode(p, len(p) // UPDATE_FORMAT.width)
            for w, p in self.k.iterate_kept_updates(store, task_id)
            if len(p) // UPDATE_FORMAT.width in width
        }
        beacon = self.k.get_seed(store)
        seed = nearcopy.compute_near_copy_seed(
            task_id, round_, [reveals[w].update_hash for w in vectors], beacon.seed if beacon else b""
        )
        near = nearcopy.compute_near_copies(
            vectors, kept, params.near_copy_threshold_bps, params.max_near_copy_work, seed
        )
        if near.excluded:
            events.emit(
                "near_copies",
                task_id=task_id,
                round=round_,
                slashed=",".join(encode_address(w) for w in sorted(near.slashed)),
                excluded=",".join(encode_address(w) for w in sorted(near.excluded - near.slashed)),
                coordinates=near.coordinates,
            )
        return near

    def _member_scores(self, store: KVStore, committee: committee_pb2.Committee) -> list[logic.MemberScores]:
        """The seated members' attestations as MemberScores, one vote per seat (logic.SEAT_VOTE)."""
        out = []
        for operator, att in self.k.iterate_attestations(store, committee.task_id, committee.round):
            scores = {decode_address(s.worker): (s.score_bps, s.spot_check_failed) for s in att.scores}
            directions = {decode_address(s.worker): (s.direction_bps, s.norm_bps) for s in att.scores}
            out.append(logic.MemberScores(operator, logic.SEAT_VOTE, att.baseline_bps, scores, directions))
        return out

    def _observe(
        self, store: KVStore, address: bytes, good: bool | None, params: committee_pb2.Params
    ) -> int:
        """Move an address's reputation by one outcome (None, e.g. an unscored update, is no evidence)."""
        rep = self.k.get_reputation(store, address) or committee_pb2.Reputation(
            address=encode_address(address), score_bps=params.initial_reputation_bps
        )
        if good is not None:
            rep.score_bps = logic.compute_reputation(rep.score_bps, good, params.reputation_window)
            rep.observations += 1
            self.k.set_reputation(store, address, rep)
        return rep.score_bps

    def _judge_members(
        self,
        store: KVStore,
        task_id: int,
        committee: committee_pb2.Committee,
        attested: list[logic.MemberScores],
        verdicts: logic.RoundVerdicts,
        height: int,
        scores: committee_pb2.RoundScores,
        events: EventManager,
    ) -> None:
        """Fault members that did not attest or strayed; slash after max_member_faults; credit the rest."""
        params = self.k.get_params(store)
        seats = [decode_address(seat.operator) for seat in committee.seats]
        tolerance = logic.compute_stray_tolerances(
            params.attest_tolerance_bps, params.eval_sample_rows, _direction_rule(params) is not None
        )
        faults = logic.compute_member_faults(seats, attested, verdicts, tolerance)
        attesters = {m.operator for m in attested}
        for seat, operator in zip(committee.seats, seats, strict=True):
            faulty, deviation = faults[operator]
            rep = self._observe(store, operator, not faulty, params)
            slashed = faulty and self._add_fault(store, operator, seat.power, height, params, events)
            if not faulty:
                self.k.add_member_points(store, task_id, operator, 1)
            scores.members.append(
                committee_pb2.MemberVerdict(
                    operator=seat.operator,
                    attested=operator in attesters,
                    faulty=faulty,
                    max_deviation_bps=deviation,
                    reputation_bps=rep,
                    slashed=slashed,
                )
            )

    def _add_fault(
        self,
        store: KVStore,
        operator: bytes,
        power: int,
        height: int,
        params: committee_pb2.Params,
        events: EventManager,
    ) -> bool:
        """Count a fault; at max_member_faults slash the member's stake (burnt) and restart the count."""
        member = self.k.get_member(store, operator)
        if member is None:  # opted out after being seated: the fault still costs reputation
            return False
        member.faults += 1
        slashed = member.faults >= params.max_member_faults
        if slashed:
            burnt = self.staking.slash(store, operator, height, power, params.member_slash_bps).total
            member.faults = 0
            member.slashes += 1
            events.emit("committee_slash", operator=member.operator, burned=burnt, height=height)
        self.k.set_member(store, operator, member)
        return slashed
