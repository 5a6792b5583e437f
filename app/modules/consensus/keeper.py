"""consensus keeper: owns the consensus prefix store (queries, participants, rounds, settlements,
ensemble models, reputations)."""

from __future__ import annotations

from collections.abc import Iterator

from app.core.codec import from_u64be, u64be
from app.modules.consensus import keys, logic
from app.modules.consensus.errors import ErrQueryNotFound
from app.modules.consensus.params import default_params
from app.state.kv import KVReader, KVStore, PrefixReader, PrefixStore
from synod.consensus.v1 import consensus_pb2

__all__ = ["CONSENSUS_ESCROW", "ConsensusKeeper"]

# The module account that escrows query rewards and participant stakes.
CONSENSUS_ESCROW = "consensus"


def _put(ps: PrefixStore, key: bytes, msg: object) -> None:
    """Store a proto message under key in its deterministic encoding."""
    ps.set(key, msg.SerializeToString(deterministic=True))  # type: ignore[attr-defined]


class ConsensusKeeper:
    """Reads and writes consensus state; input validation lives in msg_server."""

    def _store(self, store: KVStore) -> PrefixStore:
        return PrefixStore(store, keys.STORE_PREFIX)

    def _read(self, store: KVReader) -> PrefixReader:
        return PrefixReader(store, keys.STORE_PREFIX)

    def get_params(self, store: KVReader) -> consensus_pb2.Params:
        """Current params."""
        raw = self._read(store).get(keys.PARAMS)
        return consensus_pb2.Params.FromString(raw) if raw else default_params()

    def set_params(self, store: KVStore, params: consensus_pb2.Params) -> None:
        """Store params."""
        _put(self._store(store), keys.PARAMS, params)

    # --- queries -------------------------------------------------------------------------------

    def next_query_id(self, store: KVStore) -> int:
        """Allocate the next query id (ids start at 1)."""
        ps = self._store(store)
        raw = ps.get(keys.NEXT_QUERY_ID)
        query_id = from_u64be(raw) if raw else 1
        ps.set(keys.NEXT_QUERY_ID, u64be(query_id + 1))
        return query_id

    def get_query(self, store: KVReader, query_id: int) -> consensus_pb2.PredictionQuery | None:
        """One query, or None."""
        raw = self._read(store).get(keys.query_key(query_id))
        return consensus_pb2.PredictionQuery.FromString(raw) if raw else None

    def require_query(self, store: KVReader, query_id: int) -> consensus_pb2.PredictionQuery:
        """One query, or ErrQueryNotFound."""
        query = self.get_query(store, query_id)
        if query is None:
            raise ErrQueryNotFound.wrap(f"no query with id {query_id}; ids start at 1 and count up")
        return query

    def set_query(self, store: KVStore, query: consensus_pb2.PredictionQuery) -> None:
        """Store a query."""
        _put(self._store(store), keys.query_key(query.id), query)

    def iterate_queries(self, store: KVReader) -> Iterator[consensus_pb2.PredictionQuery]:
        """Every query by id."""
        for _, raw in self._read(store).iterate(keys.QUERY):
            yield consensus_pb2.PredictionQuery.FromString(raw)

    # --- fast queries waiting for the validators --------------------------------------------------

    def add_pending(self, store: KVStore, query_id: int) -> None:
        """Mark a fast query as waiting for the validators' answers."""
        self._store(store).set(keys.pending_key(query_id), b"")

    def remove_pending(self, store: KVStore, query_id: int) -> None:
        """A fast query was settled or expired."""
        self._store(store).delete(keys.pending_key(query_id))

    def count_pending(self, store: KVReader, limit: int) -> int:
        """How many fast queries are pending, counting no further than limit (keys only)."""
        count = 0
        for _ in self._read(store).iterate(keys.pending_key()):
            count += 1
            if count >= limit:
                break
        return count

    def iterate_pending_fast(
        self, store: KVReader, before_height: int | None = None
    ) -> list[consensus_pb2.PredictionQuery]:
        """Fast OPEN queries in id order; with before_height, only those posted below it.

        On committed state every pending query was posted below the next height; inside a block,
        pass the block's height to leave out queries posted by its own transactions.
        """
        prefix = keys.pending_key()
        out = []
        for k, _ in self._read(store).iterate(prefix):
            query = self.require_query(store, from_u64be(k[len(prefix) :]))
            if before_height is None or query.posted_height < before_height:
                out.append(query)
        return out

    # --- participants, commitments, rounds, settlements -------------------------------------------

    def get_participant(
        self, store: KVReader, query_id: int, address: bytes
    ) -> consensus_pb2.Participant | None:
        """One participant of a query, or None."""
        raw = self._read(store).get(keys.participant_key(query_id, address))
        return consensus_pb2.Participant.FromString(raw) if raw else None

    def set_participant(self, store: KVStore, address: bytes, p: consensus_pb2.Participant) -> None:
        """Store a participant."""
        _put(self._store(store), keys.participant_key(p.query_id, address), p)

    def iterate_participants(
        self, store: KVReader, query_id: int
    ) -> Iterator[tuple[bytes, consensus_pb2.Participant]]:
        """(raw address, participant) of a query, in address order."""
        prefix = keys.participant_key(query_id)
        for k, raw in self._read(store).iterate(prefix):
            yield k[len(prefix) :], consensus_pb2.Participant.FromString(raw)

    def get_commitment(
        self, store: KVReader, query_id: int, round_: int, address: bytes
    ) -> consensus_pb2.Commitment | None:
        """A participant's commitment (and reveal) for a round, or None."""
        raw = self._read(store).get(keys.commitment_key(query_id, round_, address))
        return consensus_pb2.Commitment.FromString(raw) if raw else None

    def set_commitment(self, store: KVStore, address: bytes, c: consensus_pb2.Commitment) -> None:
        """Store a commitment (and, once revealed, its predictions)."""
        _put(self._store(store), keys.commitment_key(c.query_id, c.round, address), c)

    def iterate_commitments(
        self, store: KVReader, query_id: int, round_: int
    ) -> Iterator[tuple[bytes, consensus_pb2.Commitment]]:
        """(raw address, commitment) of a round, in address order."""
        prefix = keys.commitment_key(query_id, round_)
        for k, raw in self._read(store).iterate(prefix):
            yield k[len(prefix) :], consensus_pb2.Commitment.FromString(raw)

    def get_latest_reveals(self, store: KVReader, query: consensus_pb2.PredictionQuery) -> dict[bytes, bytes]:
        """Each participant's latest revealed predictions over all rounds, by raw address."""
        latest: dict[bytes, bytes] = {}
        for round_ in range(query.rounds + 1):
            for address, c in self.iterate_commitments(store, query.id, round_):
                if c.revealed:
                    latest[address] = c.predictions
        return dict(sorted(latest.items()))

    def get_round(self, store: KVReader, query_id: int, round_: int) -> consensus_pb2.RoundState | None:
        """The network's view after a round's reveal phase, or None before it closes."""
        raw = self._read(store).get(keys.round_key(query_id, round_))
        return consensus_pb2.RoundState.FromString(raw) if raw else None

    def set_round(self, store: KVStore, state: consensus_pb2.RoundState) -> None:
        """Store a closed round's state."""
        _put(self._store(store), keys.round_key(state.query_id, state.round), state)

    def get_settlement(self, store: KVReader, query_id: int) -> consensus_pb2.Settlement | None:
        """A query's settlement, or None before it settles."""
        raw = self._read(store).get(keys.settlement_key(query_id))
        return consensus_pb2.Settlement.FromString(raw) if raw else None

    def set_settlement(self, store: KVStore, settlement: consensus_pb2.Settlement) -> None:
        """Store a settlement."""
        _put(self._store(store), keys.settlement_key(settlement.query_id), settlement)

    # --- ensemble models and reputation -----------------------------------------------------------

    def get_model(self, store: KVReader, operator: bytes) -> consensus_pb2.EnsembleModel | None:
        """A validator's registered ensemble model, or None."""
        raw = self._read(store).get(keys.model_key(operator))
        return consensus_pb2.EnsembleModel.FromString(raw) if raw else None

    def set_model(self, store: KVStore, operator: bytes, model: consensus_pb2.EnsembleModel) -> None:
        """Register (or replace) a validator's ensemble model."""
        _put(self._store(store), keys.model_key(operator), model)

    def remove_model(self, store: KVStore, operator: bytes) -> None:
        """Take a validator out of the fast-path ensemble."""
        self._store(store).delete(keys.model_key(operator))

    def iterate_models(self, store: KVReader) -> Iterator[tuple[bytes, consensus_pb2.EnsembleModel]]:
        """Every ensemble model with its raw operator address, in address order."""
        for k, raw in self._read(store).iterate(keys.MODEL):
            yield k[len(keys.MODEL) :], consensus_pb2.EnsembleModel.FromString(raw)

    def get_reputation(self, store: KVReader, address: bytes) -> consensus_pb2.ConsensusReputation | None:
        """An address's reputation record, or None before its first observation."""
        raw = self._read(store).get(keys.reputation_key(address))
        return consensus_pb2.ConsensusReputation.FromString(raw) if raw else None

    def get_reputation_bps(self, store: KVReader, address: bytes) -> int:
        """An address's reputation in bps: its record, or the initial reputation."""
        record = self.get_reputation(store, address)
        return record.score_bps if record is not None else self.get_params(store).initial_reputation_bps

    def set_reputation(self, store: KVStore, address: bytes, rep: consensus_pb2.ConsensusReputation) -> None:
        """Store a reputation record."""
        _put(self._store(store), keys.reputation_key(address), rep)

    def iterate_reputations(self, store: KVReader) -> Iterator[consensus_pb2.ConsensusReputation]:
        """Every reputation record, in address order."""
        for _, raw in self._read(store).iterate(keys.REPUTATION):
            yield consensus_pb2.ConsensusReputation.FromString(raw)

    # --- end-block schedule ------------------------------------------------------------------------

    def schedule(self, store: KVStore, height: int, query_id: int) -> None:
        """Ask the end-block of height to visit the query."""
        self._store(store).set(keys.schedule_key(height, query_id), b"")

    def unschedule(self, store: KVStore, height: int, query_id: int) -> None:
        """Withdraw a scheduled end-block visit."""
        self._store(store).delete(keys.schedule_key(height, query_id))

    def get_progress(self, store: KVReader, query_id: int) -> consensus_pb2.QueryProgress:
        """An open query's participant, commitment and reveal counts (zeros when none)."""
        raw = self._read(store).get(keys.progress_key(query_id))
        return consensus_pb2.QueryProgress.FromString(raw) if raw else consensus_pb2.QueryProgress()

    def set_progress(self, store: KVStore, query_id: int, progress: consensus_pb2.QueryProgress) -> None:
        """Store an open query's counts."""
        _put(self._store(store), keys.progress_key(query_id), progress)

    def clear_progress(self, store: KVStore, query_id: int) -> None:
        """Drop the counts of a query that is no longer open."""
        self._store(store).delete(keys.progress_key(query_id))

    def start_phase(
        self,
        store: KVStore,
        query: consensus_pb2.PredictionQuery,
        phase: consensus_pb2.QueryPhase,
        height: int,
    ) -> None:
        """Begin a phase at height (a commit phase: of query.round, its counts at zero), store the query
        and schedule the end-block of the phase's deadline."""
        query.phase, query.phase_start_height = phase, height
        if phase == consensus_pb2.QUERY_PHASE_COMMIT:
            progress = self.get_progress(store, query.id)
            progress.commits = progress.reveals = 0
            self.set_progress(store, query.id, progress)
        self.set_query(store, query)
        self.schedule(store, logic.compute_phase(query, height).end_height, query.id)

    def close_phase_now(self, store: KVStore, query: consensus_pb2.PredictionQuery, height: int) -> None:
        """The open query's phase has all its work: end it in the end-block of height (early close)."""
        self.unschedule(store, logic.compute_phase(query, height).end_height, query.id)
        self.schedule(store, height, query.id)

    def pop_scheduled(self, store: KVStore, height: int) -> list[int]:
        """Remove and return the query ids scheduled at height, in id order."""
        ps = self._store(store)
        prefix = keys.schedule_key(height)
        entries = [k for k, _ in ps.iterate(prefix)]
        for k in entries:
            ps.delete(k)
        return [from_u64be(k[len(prefix) :]) for k in entries]
