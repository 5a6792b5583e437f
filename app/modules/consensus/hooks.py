"""consensus end-block work and payouts: close rounds, settle, expire, close queries; the fast path.

Only queries scheduled at a height are visited (keys.SCHEDULE), so idle queries cost nothing per
block. Every visit is decided by the query's status, so a visit that is no longer due does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.core.coins import Coins
from app.core.crypto import decode_address, encode_address
from app.core.events import EventManager
from app.modules.consensus import logic
from app.modules.consensus.expected import ConsensusBank, ConsensusSeeds
from app.modules.consensus.keeper import CONSENSUS_ESCROW, ConsensusKeeper
from app.state.kv import KVStore
from synod.consensus.v1 import consensus_pb2

__all__ = ["ConsensusHooks", "FastVote"]

# (validator operator address, voting power, predictions blob): one answer to a fast query.
FastVote = tuple[bytes, int, bytes]

_OPEN = consensus_pb2.QUERY_STATUS_OPEN
_SETTLED = consensus_pb2.QUERY_STATUS_SETTLED
_CLOSED = consensus_pb2.QUERY_STATUS_CLOSED
_EXPIRED = consensus_pb2.QUERY_STATUS_EXPIRED


def _amount(text: str) -> int:
    """A base-10 amount field that may still be empty."""
    return int(text or 0)


def _coins(amounts: dict[str, int]) -> Coins:
    """Coins from amounts by denom, zeros left out (a fast voter has no stake, hence no denom)."""
    return Coins.of(sorted((denom, amount) for denom, amount in amounts.items() if amount))


def _tallies(tallies: Sequence[logic.Tally]) -> list[consensus_pb2.InputTally]:
    """Tallies as protos."""
    return [consensus_pb2.InputTally(answer=t.answer, support_bps=t.support_bps) for t in tallies]


def _agreement(
    settlement: consensus_pb2.Settlement, counted: dict[bytes, list[tuple[int, int]]]
) -> dict[bytes, int]:
    """Each voter's inputs that agree with the settled answers."""
    answers = [t.answer for t in settlement.tallies]
    return {address: logic.compute_matches(entries, answers) for address, entries in counted.items()}


class ConsensusHooks:
    """Block-level transitions of the consensus module (the ABCI app calls these, never a tx)."""

    def __init__(self, k: ConsensusKeeper, bank: ConsensusBank, seeds: ConsensusSeeds) -> None:
        self.k = k
        self.bank = bank
        self.seeds = seeds

    def process_end_block(self, store: KVStore, height: int, events: EventManager) -> None:
        """Run every query deadline (or early close) that falls at height, in query id order.

        Round closes and label deadlines share max_block_tally_work: once one would overflow it
        (never the block's first), it and every later one move to height + 1, in the same order;
        cheap visits (a commit phase's end, a fast expiry) always run (README "Budgets"). A moved
        visit's phase or label window has ended (messages for it are refused, msg_server), so it
        closes in a later block exactly as it would have, at that block's height.
        """
        budget = self.k.get_params(store).max_block_tally_work
        used, deferred = 0, 0
        for query_id in self.k.pop_scheduled(store, height):
            query = self.k.require_query(store, query_id)
            cost = self._visit_cost(store, query, height)
            if cost and (deferred or (used and used + cost > budget)):
                self.k.schedule(store, height + 1, query_id)
                deferred += 1
                continue
            used += cost
            self._visit(store, query, height, events)
        if deferred:
            events.emit("tally_deferred", height=height + 1, queries=deferred)

    def _visit(
        self, store: KVStore, query: consensus_pb2.PredictionQuery, height: int, events: EventManager
    ) -> None:
        """One scheduled visit: fast expiry, a phase's end, or the label deadline."""
        if query.status == _OPEN and query.fast:
            self._expire(store, query, events)
        elif query.status == _OPEN and self._phase_due(store, query, height):
            if query.phase == consensus_pb2.QUERY_PHASE_COMMIT:
                self.k.start_phase(store, query, consensus_pb2.QUERY_PHASE_REVEAL, height + 1)
            else:
                self._close_round(store, query, query.round, height, events)
        elif query.status == _SETTLED and height >= logic.compute_label_deadline(query):
            self.close_without_labels(store, query, events)

    def _visit_cost(self, store: KVStore, query: consensus_pb2.PredictionQuery, height: int) -> int:
        """Tally units of a visit: a round close or an open query's label deadline; 0 otherwise."""
        if query.fast:
            return 0
        if query.status == _OPEN and query.phase == consensus_pb2.QUERY_PHASE_REVEAL:
            participants = self.k.get_progress(store, query.id).participants
        elif query.status == _SETTLED and height >= logic.compute_label_deadline(query):
            settlement = self.k.get_settlement(store, query.id)
            participants = len(settlement.voters) if settlement is not None else 0
        else:
            return 0
        return logic.compute_tally_cost(participants, query.input_count, query.rounds)

    def _phase_due(self, store: KVStore, query: consensus_pb2.PredictionQuery, height: int) -> bool:
        """The open query's phase ends at height: its deadline (or a deferred one), or its work is done."""
        if height >= logic.compute_phase(query, height).end_height:
            return True
        return logic.is_phase_complete(query, self.k.get_progress(store, query.id))

    # --- open queries ------------------------------------------------------------------------------

    def _close_round(
        self,
        store: KVStore,
        query: consensus_pb2.PredictionQuery,
        round_: int,
        height: int,
        events: EventManager,
    ) -> None:
        """Slash unrevealed commitments, record the round's tallies and seed; go on or settle."""
        commitments = list(self.k.iterate_commitments(store, query.id, round_))
        missed = [address for address, c in commitments if not c.revealed]
        self._slash_missed(store, query, missed, events)
        participants = dict(self.k.iterate_participants(store, query.id))
        revealed = {address: c.predictions for address, c in commitments if c.revealed}
        seed = self.seeds.get_seed(store)
        state = consensus_pb2.RoundState(
            query_id=query.id,
            round=round_,
            seed=seed.seed if seed is not None else b"",
            tallies=_tallies(self._tally(query, participants, revealed)),
            revealed=[participants[address].address for address in revealed],
            height=height,
        )
        self.k.set_round(store, state)
        events.emit(
            "round_closed",
            query_id=query.id,
            round=round_,
            revealed=len(revealed),
            missed=len(missed),
            seed=state.seed.hex(),
        )
        if not participants:
            # Registration closed with round 0's commit phase: nobody can take part any more.
            self._refund(store, query, _CLOSED, "no_participants", events)
        elif round_ < query.rounds:
            query.round = round_ + 1
            self.k.start_phase(store, query, consensus_pb2.QUERY_PHASE_COMMIT, height + 1)
        else:
            self._settle(store, query, participants, height, events)

    def _tally(
        self,
        query: consensus_pb2.PredictionQuery,
        participants: dict[bytes, consensus_pb2.Participant],
        predictions: dict[bytes, bytes],
    ) -> list[logic.Tally]:
        """The settlement rule over revealed predictions, weighted by stake x reputation."""
        votes = [
            (
                logic.compute_weight(_amount(participants[a].stake.amount), participants[a].reputation_bps),
                logic.decode_predictions(blob, query.input_count, query.label_count),
            )
            for a, blob in predictions.items()
        ]
        return logic.compute_tally(query.input_count, query.label_count, votes)

    def _slash_missed(
        self, store: KVStore, query: consensus_pb2.PredictionQuery, missed: list[bytes], events: EventManager
    ) -> None:
        """Burn missed_reveal_slash_bps of each withholder's stake and count the miss.

        Burnt, not paid to the others: no participant gains from another's silence.
        """
        fraction = self.k.get_params(store).missed_reveal_slash_bps
        for address in missed:
            p = self.k.get_participant(store, query.id, address)
            assert p is not None  # only participants commit
            p.missed_reveals += 1
            amount = logic.compute_slash(_amount(p.stake.amount), _amount(p.slashed), fraction)
            if amount:
                self.bank.burn_coins(store, CONSENSUS_ESCROW, _coins({p.stake.denom: amount}))
                p.slashed = str(_amount(p.slashed) + amount)
            self.k.set_participant(store, address, p)
            events.emit(
                "participant_slashed",
                query_id=query.id,
                participant=p.address,
                reason="missed_reveal",
                burned=f"{amount}{p.stake.denom}",
            )

    def _settle(
        self,
        store: KVStore,
        query: consensus_pb2.PredictionQuery,
        participants: dict[bytes, consensus_pb2.Participant],
        height: int,
        events: EventManager,
    ) -> None:
        """Settle on every participant's latest revealed predictions."""
        latest = self.k.get_latest_reveals(store, query)
        tallies = self._tally(query, participants, latest)
        voters = [participants[address].address for address in latest]
        self._record_settlement(store, query, tallies, voters, query.rounds, height, events)

    def _record_settlement(
        self,
        store: KVStore,
        query: consensus_pb2.PredictionQuery,
        tallies: list[logic.Tally],
        voters: list[str],
        round_: int,
        height: int,
        events: EventManager,
    ) -> None:
        """Store the settlement, mark the query SETTLED and start the poster's label window."""
        settlement = consensus_pb2.Settlement(
            query_id=query.id,
            answers=logic.encode_predictions([(t.answer, t.support_bps) for t in tallies]),
            tallies=_tallies(tallies),
            voters=voters,
            height=height,
            round=round_,
        )
        self.k.set_settlement(store, settlement)
        query.status, query.phase = _SETTLED, consensus_pb2.QUERY_PHASE_UNSPECIFIED
        query.settled_height = height
        self.k.clear_progress(store, query.id)
        self.k.set_query(store, query)
        events.emit("query_settled", query_id=query.id, round=round_, voters=len(voters), height=height)
        if query.schedule.label_blocks:
            self.k.schedule(store, logic.compute_label_deadline(query), query.id)
        else:
            self.close_without_labels(store, query, events)

    # --- closing -----------------------------------------------------------------------------------

    def _counted(
        self, store: KVStore, query: consensus_pb2.PredictionQuery
    ) -> dict[bytes, list[tuple[int, int]]]:
        """Each voter's counted (latest revealed) predictions, decoded, by raw address."""
        return {
            address: logic.decode_predictions(blob, query.input_count, query.label_count)
            for address, blob in self.k.get_latest_reveals(store, query).items()
        }

    def close_without_labels(
        self, store: KVStore, query: consensus_pb2.PredictionQuery, events: EventManager
    ) -> None:
        """The label window passed: pay the reward by agreement with the settled answers (open
        queries; a fast query was paid at settlement), return the stakes; reputations stay."""
        if not query.fast:
            settlement = self.k.get_settlement(store, query.id)
            assert settlement is not None  # only settled queries reach their label deadline
            counted = self._counted(store, query)
            self._pay_out(store, query, [_agreement(settlement, counted)], bool(counted), events)
        query.status = _CLOSED
        self.k.set_query(store, query)
        events.emit("query_closed", query_id=query.id, reason="label_deadline")

    def close_with_labels(
        self, store: KVStore, query: consensus_pb2.PredictionQuery, labels: bytes, events: EventManager
    ) -> None:
        """The poster's labels (already checked): score every participant, move reputations, pay
        the reward by correct answers (open queries), return the stakes, close."""
        params = self.k.get_params(store)
        counted = self._counted(store, query)
        correct: dict[bytes, int] = {}
        for address, p in self.k.iterate_participants(store, query.id):
            # A participant that never revealed is scored 0: withholding must not protect a reputation.
            p.correct = logic.compute_matches(counted[address], labels) if address in counted else 0
            correct[address] = p.correct
            self.k.set_participant(store, address, p)
            self._observe(store, address, p.address, p.correct, query.input_count, params)
        settlement = self.k.get_settlement(store, query.id)
        assert settlement is not None  # labels are accepted only once settled
        hits = logic.compute_matches([(t.answer, 0) for t in settlement.tallies], labels)
        settlement.accuracy_bps = logic.compute_observation(hits, query.input_count)
        settlement.labels_revealed = True
        settlement.labels = labels
        self.k.set_settlement(store, settlement)
        if not query.fast:
            # What correctness leaves (labels nobody predicted, rounding) is paid by agreement.
            tiers = [correct, _agreement(settlement, counted)]
            self._pay_out(store, query, tiers, bool(counted), events)
        query.status = _CLOSED
        self.k.set_query(store, query)
        events.emit("query_closed", query_id=query.id, reason="labels", accuracy_bps=settlement.accuracy_bps)

    def _observe(
        self,
        store: KVStore,
        address: bytes,
        bech32: str,
        correct: int,
        input_count: int,
        params: consensus_pb2.Params,
    ) -> None:
        """One reputation step for an address from its accuracy on one query."""
        record = self.k.get_reputation(store, address) or consensus_pb2.ConsensusReputation(
            address=bech32, score_bps=params.initial_reputation_bps
        )
        observation = logic.compute_observation(correct, input_count)
        record.score_bps = logic.compute_reputation(record.score_bps, observation, params.reputation_window)
        record.observations += 1
        self.k.set_reputation(store, address, record)

    def _pay_out(
        self,
        store: KVStore,
        query: consensus_pb2.PredictionQuery,
        tiers: Sequence[dict[bytes, int]],
        answered: bool,
        events: EventManager,
    ) -> None:
        """Split the reward by tiers of points (logic.compute_payout), return what is left of every
        stake; what no tier earned is burnt once any answer arrived, else refunded to the poster.

        Burnt, not refunded: a poster who received answers must not recover the reward by revealing
        labels nobody predicted (README "Unearned rewards").
        """
        reward, denom = _amount(query.reward.amount), query.reward.denom
        shares, left = logic.compute_payout(reward, tiers)
        for address, p in self.k.iterate_participants(store, query.id):
            amounts = {p.stake.denom: _amount(p.stake.amount) - _amount(p.slashed)}
            amounts[denom] = amounts.get(denom, 0) + shares.get(address, 0)
            self._send(store, address, amounts)
            p.reward = str(shares.get(address, 0))
            self.k.set_participant(store, address, p)
            if shares.get(address):
                events.emit(
                    "reward_paid", query_id=query.id, address=p.address, amount=f"{shares[address]}{denom}"
                )
        if not answered:
            self._send(store, decode_address(query.poster), {denom: left})
            events.emit("reward_refunded", query_id=query.id, poster=query.poster, amount=f"{left}{denom}")
            return
        if left:
            self.bank.burn_coins(store, CONSENSUS_ESCROW, _coins({denom: left}))
        events.emit(
            "reward_unearned", query_id=query.id, reward_burned=f"{left}{denom}", paid=str(reward - left)
        )

    def _send(self, store: KVStore, recipient: bytes, amounts: dict[str, int]) -> None:
        """Release escrowed coins (nothing at all when every amount is zero)."""
        coins = _coins(amounts)
        if coins:
            self.bank.send_coins_from_module_to_account(store, CONSENSUS_ESCROW, recipient, coins)

    def _refund(
        self,
        store: KVStore,
        query: consensus_pb2.PredictionQuery,
        status: consensus_pb2.QueryStatus,
        reason: str,
        events: EventManager,
    ) -> None:
        """End a query nobody answered: the whole reward goes back to the poster."""
        self._send(store, decode_address(query.poster), {query.reward.denom: _amount(query.reward.amount)})
        query.status, query.phase = status, consensus_pb2.QUERY_PHASE_UNSPECIFIED
        self.k.clear_progress(store, query.id)
        self.k.set_query(store, query)
        self.k.remove_pending(store, query.id)
        events.emit(
            "query_closed" if status == _CLOSED else "query_expired",
            query_id=query.id,
            reason=reason,
            refunded=f"{query.reward.amount}{query.reward.denom}",
        )

    # --- the fast path -----------------------------------------------------------------------------

    def _expire(self, store: KVStore, query: consensus_pb2.PredictionQuery, events: EventManager) -> None:
        """A fast query no validator answered within fast_deadline_blocks: refund it."""
        self._refund(store, query, _EXPIRED, "fast_deadline", events)

    def settle_fast(
        self,
        store: KVStore,
        query: consensus_pb2.PredictionQuery,
        votes: Sequence[FastVote],
        height: int,
        events: EventManager,
    ) -> bool:
        """Settle a pending fast query on the validators' answers and pay its reward at once.

        Weight = voting power x the operator's reputation. Votes with no power or malformed
        predictions are left out, and an operator counts once (its first vote). The reward is split
        by agreement with the settled answers (inputs matched); the remainder is burnt.
        Returns False, changing nothing, when the query is not a pending fast query or no vote counts.
        """
        if not query.fast or query.status != _OPEN:
            return False
        ballots: dict[bytes, tuple[int, bytes, list[tuple[int, int]]]] = {}
        for operator, power, blob in votes:
            if operator in ballots or power <= 0:
                continue
            try:
                entries = logic.decode_predictions(blob, query.input_count, query.label_count)
            except logic.PredictionsError:
                continue
            ballots[operator] = (power, blob, entries)
        if not ballots:
            return False
        ordered = sorted(ballots.items())
        reputations = {op: self.k.get_reputation_bps(store, op) for op, _ in ordered}
        tallies = logic.compute_tally(
            query.input_count,
            query.label_count,
            [(logic.compute_weight(power, reputations[op]), entries) for op, (power, _, entries) in ordered],
        )
        answers = [t.answer for t in tallies]
        for op, (_, blob, _) in ordered:
            address = encode_address(op)
            self.k.set_participant(
                store,
                op,
                consensus_pb2.Participant(query_id=query.id, address=address, reputation_bps=reputations[op]),
            )
            self.k.set_commitment(
                store,
                op,
                consensus_pb2.Commitment(
                    query_id=query.id, round=0, participant=address, revealed=True, predictions=blob
                ),
            )
        agreed = {op: logic.compute_matches(e, answers) for op, (_, _, e) in ordered}
        self._pay_out(store, query, [agreed], True, events)
        self.k.remove_pending(store, query.id)
        self._record_settlement(
            store, query, tallies, [encode_address(op) for op, _ in ordered], 0, height, events
        )
        return True
