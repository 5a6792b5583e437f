"""committee block work: sample a committee when a round's reveal phase closes, judge it when it ends.

CommitteeJudge is the tasks module's UpdateJudge (tasks/expected.py). Tasks without a score phase
(score_blocks = 0) have no committee: their non-replayed updates are accepted unscored.
"""

from __future__ import annotations

from app.core.crypto import decode_address, encode_address
from app.core.events import EventManager
from app.modules.committee import logic
from app.modules.committee.expected import CommitteeStaking
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

    def __init__(self, k: CommitteeKeeper, staking: CommitteeStaking) -> None:
        self.k = k
        self.staking = staking

    def get_scoring_work(self, store: KVStore) -> int:
        """What open_scoring costs now, for the tasks block budget: linear in the members it reads,
        times the seats it draws (one stored counter and the params: no scan)."""
        members = self.k.get_member_count(store)
        return members * (_MEMBER_WORK + self.k.get_params(store).max_committee_size * _SEAT_WORK)

    def open_scoring(
        self,
        store: KVStore,
        task: tasks_pb2.Task,
        round_: int,
        revealed: list[bytes],
        height: int,
        events: EventManager,
    ) -> None:
        """Sample and store the round's committee from the latest seed and the last voting powers.

        Eligible: members registered before this height whose validator is in the active set, and
        who revealed no update of this round (nobody scores its own update). The weights are the
        powers last sent to CometBFT, which no transaction of this block can change, and the seed
        came from shares signed before this block was proposed.
        """
        params = self.k.get_params(store)
        powers = self.staking.get_last_powers(store)
        workers = set(revealed)
        eligible = [
            (operator, powers[operator])
            for operator, member in self.k.iterate_members(store)
            if member.since_height < height and powers.get(operator, 0) > 0 and operator not in workers
        ]
        size = logic.compute_committee_size(
            params.adversarial_stake_bps, params.capture_target_ppb, params.max_committee_size
        )
        seed = self.k.get_seed(store)
        seats = logic.compute_committee(seed.seed, task.id, round_, eligible, size) if seed else []
        committee = committee_pb2.Committee(
            task_id=task.id,
            round=round_,
            height=height,
            seed=seed,
            seats=[committee_pb2.Seat(operator=encode_address(op), power=p) for op, p in seats],
            workers=[encode_address(w) for w in revealed],
            target_size=size,
        )
        self.k.set_committee(store, committee)
        if not seats:
            reason = "no beacon seed yet" if seed is None else "no eligible member"
            events.emit("committee_unavailable", task_id=task.id, round=round_, reason=reason)
            return
        events.emit(
            "committee_selected",
            task_id=task.id,
            round=round_,
            seats=",".join(s.operator for s in committee.seats),
            target_size=size,
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
        replayed = self._mark_seen(store, task.id, round_, reveals)
        committee = self.k.get_committee(store, task.id, round_)
        attested = self._member_scores(store, committee) if committee else []
        verdicts = logic.compute_verdicts(
            workers, attested, replayed, params.max_score_drop_bps, _direction_rule(params)
        )
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
            if verdict not in _BAD:
                weight = rep if task.schedule.score_blocks else logic.BPS
                accepted[worker] = (weight, logic.compute_reward_points(verdict, median, weight))
        for worker in missed:
            self._observe(store, worker, False, params)
        if committee is not None and committee.seats:
            self._judge_members(store, task.id, committee, attested, verdicts, height, scores, events)
            self.k.clear_attestations(store, task.id, round_)
        self.k.set_scores(store, scores)
        rejected = [w for w in workers if w not in accepted]
        return Judgement(accepted, rejected)

    def pop_committee_rewards(self, store: KVStore, task: tasks_pb2.Task, reward: int) -> dict[bytes, int]:
        """The members' share of a task's reward, split by points (rounds attested within tolerance)."""
        points = self.k.pop_member_points(store, task.id)
        if not points:
            return {}
        pool = reward * self.k.get_params(store).committee_reward_bps // logic.BPS
        total = sum(points.values())
        return {member: pool * p // total for member, p in sorted(points.items())}

    # --- helpers --------------------------------------------------------------------------------

    def _mark_seen(
        self, store: KVStore, task_id: int, round_: int, reveals: dict[bytes, tasks_pb2.Reveal]
    ) -> set[bytes]:
        """Workers whose update bytes appeared in an earlier round or twice in this one; record the rest."""
        hashes = {w: reveal.update_hash for w, reveal in reveals.items()}
        seen = {h for h in set(hashes.values()) if self.k.get_update_seen(store, task_id, h) is not None}
        for update_hash in sorted(set(hashes.values()) - seen):
            self.k.set_update_seen(store, task_id, update_hash, round_)
        return logic.compute_replayed(hashes, seen)

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
