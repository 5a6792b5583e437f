"""committee keeper: owns the committee prefix store (members, seed, committees, scores, reputation)."""

from __future__ import annotations

from collections.abc import Iterator

from app.core.codec import from_u64be, u64be
from app.modules.committee import keys
from app.modules.committee.params import default_params
from app.state.kv import KVReader, KVStore, PrefixReader, PrefixStore
from synod.committee.v1 import committee_pb2

__all__ = ["CommitteeKeeper"]


def _put(ps: PrefixStore, key: bytes, msg: object) -> None:
    """Store a proto message under key in its deterministic encoding."""
    ps.set(key, msg.SerializeToString(deterministic=True))  # type: ignore[attr-defined]


class CommitteeKeeper:
    """Reads and writes committee state; input validation lives in msg_server."""

    def _store(self, store: KVStore) -> PrefixStore:
        return PrefixStore(store, keys.STORE_PREFIX)

    def _read(self, store: KVReader) -> PrefixReader:
        return PrefixReader(store, keys.STORE_PREFIX)

    def get_params(self, store: KVReader) -> committee_pb2.Params:
        """Current params."""
        raw = self._read(store).get(keys.PARAMS)
        return committee_pb2.Params.FromString(raw) if raw else default_params()

    def set_params(self, store: KVStore, params: committee_pb2.Params) -> None:
        """Store params."""
        _put(self._store(store), keys.PARAMS, params)

    # --- members -------------------------------------------------------------------------------

    def get_member(self, store: KVReader, operator: bytes) -> committee_pb2.Member | None:
        """One member by operator address, or None."""
        raw = self._read(store).get(keys.member_key(operator))
        return committee_pb2.Member.FromString(raw) if raw else None

    def get_member_by_cons(self, store: KVReader, cons_address: bytes) -> committee_pb2.Member | None:
        """One member by its validator's 20-byte CometBFT address, or None."""
        operator = self._read(store).get(keys.member_by_cons_key(cons_address))
        return self.get_member(store, operator) if operator else None

    def get_member_count(self, store: KVReader) -> int:
        """How many validators are on committee duty (one stored counter, not a scan)."""
        raw = self._read(store).get(keys.MEMBER_COUNT)
        return from_u64be(raw) if raw else 0

    def _add_member_count(self, ps: PrefixStore, delta: int) -> None:
        raw = ps.get(keys.MEMBER_COUNT)
        ps.set(keys.MEMBER_COUNT, u64be((from_u64be(raw) if raw else 0) + delta))

    def set_member(self, store: KVStore, operator: bytes, member: committee_pb2.Member) -> None:
        """Store a member (counting a new one) and its consensus-address index."""
        ps = self._store(store)
        if ps.get(keys.member_key(operator)) is None:
            self._add_member_count(ps, 1)
        _put(ps, keys.member_key(operator), member)
        ps.set(keys.member_by_cons_key(member.cons_address), operator)

    def remove_member(self, store: KVStore, operator: bytes) -> None:
        """Take a member off duty."""
        member = self.get_member(store, operator)
        if member is not None:
            ps = self._store(store)
            ps.delete(keys.member_key(operator))
            ps.delete(keys.member_by_cons_key(member.cons_address))
            self._add_member_count(ps, -1)

    def iterate_members(self, store: KVReader) -> Iterator[tuple[bytes, committee_pb2.Member]]:
        """Every member with its raw operator address, in address order."""
        for k, v in self._read(store).iterate(keys.MEMBER):
            yield k[len(keys.MEMBER) :], committee_pb2.Member.FromString(v)

    # --- beacon --------------------------------------------------------------------------------

    def get_seed(self, store: KVReader) -> committee_pb2.Seed | None:
        """The latest beacon output, or None before the first one."""
        raw = self._read(store).get(keys.SEED)
        return committee_pb2.Seed.FromString(raw) if raw else None

    def set_seed(self, store: KVStore, seed: committee_pb2.Seed) -> None:
        """Replace the latest beacon output."""
        _put(self._store(store), keys.SEED, seed)

    # --- threshold beacon: DKG, groups, epoch seeds ---------------------------------------------

    def get_dkg(self, store: KVReader) -> committee_pb2.Dkg | None:
        """The DKG in progress, or None."""
        raw = self._read(store).get(keys.DKG)
        return committee_pb2.Dkg.FromString(raw) if raw else None

    def set_dkg(self, store: KVStore, dkg: committee_pb2.Dkg | None) -> None:
        """Start (or, with None, end) the DKG in progress."""
        if dkg is None:
            self._store(store).delete(keys.DKG)
        else:
            _put(self._store(store), keys.DKG, dkg)

    def take_dkg_id(self, store: KVStore) -> int:
        """A fresh DKG (and group) id: 1, 2, ..."""
        ps = self._store(store)
        raw = ps.get(keys.DKG_NEXT_ID)
        dkg_id = from_u64be(raw) if raw else 1
        ps.set(keys.DKG_NEXT_ID, u64be(dkg_id + 1))
        return dkg_id

    def get_dealing(self, store: KVReader, dkg_id: int, dealer: int) -> committee_pb2.Dealing | None:
        """One dealer's dealing, or None."""
        raw = self._read(store).get(keys.dealing_key(dkg_id, dealer))
        return committee_pb2.Dealing.FromString(raw) if raw else None

    def set_dealing(self, store: KVStore, dealing: committee_pb2.Dealing) -> None:
        """Store a dealing."""
        _put(self._store(store), keys.dealing_key(dealing.dkg_id, dealing.dealer), dealing)

    def iterate_dealings(self, store: KVReader, dkg_id: int) -> Iterator[committee_pb2.Dealing]:
        """A DKG's dealings in dealer order."""
        for _, v in self._read(store).iterate(keys.dealing_key(dkg_id)):
            yield committee_pb2.Dealing.FromString(v)

    def get_complaint(
        self, store: KVReader, dkg_id: int, dealer: int, complainer: int
    ) -> committee_pb2.Complaint | None:
        """One complaint, or None."""
        raw = self._read(store).get(keys.complaint_key(dkg_id, dealer, complainer))
        return committee_pb2.Complaint.FromString(raw) if raw else None

    def set_complaint(self, store: KVStore, complaint: committee_pb2.Complaint) -> None:
        """Store a complaint (or its justification)."""
        key = keys.complaint_key(complaint.dkg_id, complaint.dealer, complaint.complainer)
        _put(self._store(store), key, complaint)

    def iterate_complaints(self, store: KVReader, dkg_id: int) -> Iterator[committee_pb2.Complaint]:
        """A DKG's complaints in (dealer, complainer) order."""
        for _, v in self._read(store).iterate(keys.complaint_key(dkg_id)):
            yield committee_pb2.Complaint.FromString(v)

    def clear_dkg_records(self, store: KVStore, dkg_id: int) -> None:
        """Delete a finished DKG's dealings and complaints (its group keeps what is needed)."""
        ps = self._store(store)
        for prefix in (keys.dealing_key(dkg_id), keys.complaint_key(dkg_id)):
            for k, _ in list(ps.iterate(prefix)):
                ps.delete(k)

    def get_group(self, store: KVReader, previous: bool = False) -> committee_pb2.Group | None:
        """The latest completed group (or the one before it), or None."""
        raw = self._read(store).get(keys.PREVIOUS_GROUP if previous else keys.GROUP)
        return committee_pb2.Group.FromString(raw) if raw else None

    def set_group(self, store: KVStore, group: committee_pb2.Group) -> None:
        """Make group the latest; the latest so far becomes the previous one."""
        ps = self._store(store)
        current = ps.get(keys.GROUP)
        if current is not None:
            ps.set(keys.PREVIOUS_GROUP, current)
        _put(ps, keys.GROUP, group)

    def get_epoch_seed(self, store: KVReader, epoch: int) -> committee_pb2.Seed | None:
        """The group seed of an epoch, or None."""
        raw = self._read(store).get(keys.epoch_seed_key(epoch))
        return committee_pb2.Seed.FromString(raw) if raw else None

    def set_epoch_seed(self, store: KVStore, seed: committee_pb2.Seed) -> None:
        """Store an epoch's group seed (and make it the latest seed)."""
        _put(self._store(store), keys.epoch_seed_key(seed.epoch), seed)
        _put(self._store(store), keys.SEED, seed)

    def set_waiting(self, store: KVStore, epoch: int, task_id: int, round_: int) -> None:
        """Record that a (task, round) committee waits for an epoch's seed."""
        self._store(store).set(keys.waiting_committee_key(epoch, task_id, round_), b"")

    def clear_waiting(self, store: KVStore, epoch: int, task_id: int, round_: int) -> None:
        """A committee no longer waits (sampled, or its round was judged)."""
        self._store(store).delete(keys.waiting_committee_key(epoch, task_id, round_))

    def iterate_waiting(self, store: KVReader, epoch: int) -> Iterator[tuple[int, int]]:
        """The (task, round) committees waiting for an epoch's seed."""
        prefix = keys.waiting_committee_key(epoch)
        for k, _ in list(self._read(store).iterate(prefix)):
            rest = k[len(prefix) :]
            yield int.from_bytes(rest[:8], "big"), int.from_bytes(rest[8:], "big")

    # --- committees and attestations -----------------------------------------------------------

    def get_committee(self, store: KVReader, task_id: int, round_: int) -> committee_pb2.Committee | None:
        """The committee of a (task, round), or None."""
        raw = self._read(store).get(keys.committee_key(task_id, round_))
        return committee_pb2.Committee.FromString(raw) if raw else None

    def set_committee(self, store: KVStore, committee: committee_pb2.Committee) -> None:
        """Store a sampled committee."""
        _put(self._store(store), keys.committee_key(committee.task_id, committee.round), committee)

    def get_attestation(
        self, store: KVReader, task_id: int, round_: int, operator: bytes
    ) -> committee_pb2.Attestation | None:
        """One member's attestation for a (task, round), or None."""
        raw = self._read(store).get(keys.attestation_key(task_id, round_, operator))
        return committee_pb2.Attestation.FromString(raw) if raw else None

    def set_attestation(self, store: KVStore, operator: bytes, att: committee_pb2.Attestation) -> None:
        """Store an attestation (kept until the round is judged)."""
        _put(self._store(store), keys.attestation_key(att.task_id, att.round, operator), att)

    def iterate_attestations(
        self, store: KVReader, task_id: int, round_: int
    ) -> Iterator[tuple[bytes, committee_pb2.Attestation]]:
        """A round's attestations with their raw operator addresses, in address order."""
        prefix = keys.attestation_key(task_id, round_)
        for k, v in self._read(store).iterate(prefix):
            yield k[len(prefix) :], committee_pb2.Attestation.FromString(v)

    def get_attestation_commitment(
        self, store: KVReader, task_id: int, round_: int, operator: bytes
    ) -> committee_pb2.AttestationCommitment | None:
        """One member's attestation commitment for a (task, round), or None."""
        raw = self._read(store).get(keys.attestation_commitment_key(task_id, round_, operator))
        return committee_pb2.AttestationCommitment.FromString(raw) if raw else None

    def set_attestation_commitment(
        self, store: KVStore, operator: bytes, commitment: committee_pb2.AttestationCommitment
    ) -> None:
        """Store an attestation commitment (kept until the round is judged)."""
        key = keys.attestation_commitment_key(commitment.task_id, commitment.round, operator)
        _put(self._store(store), key, commitment)

    def count_attestation_commitments(self, store: KVReader, task_id: int, round_: int) -> int:
        """How many members committed in a round (at most one per seat)."""
        return sum(1 for _ in self._read(store).iterate(keys.attestation_commitment_key(task_id, round_)))

    def clear_attestations(self, store: KVStore, task_id: int, round_: int) -> None:
        """Drop a judged round's attestations and commitments (its RoundScores keep the outcome)."""
        ps = self._store(store)
        for prefix in (
            keys.attestation_key(task_id, round_),
            keys.attestation_commitment_key(task_id, round_),
        ):
            for k, _ in list(ps.iterate(prefix)):
                ps.delete(k)

    def get_scores(self, store: KVReader, task_id: int, round_: int) -> committee_pb2.RoundScores | None:
        """The judgement of a (task, round), or None."""
        raw = self._read(store).get(keys.scores_key(task_id, round_))
        return committee_pb2.RoundScores.FromString(raw) if raw else None

    def set_scores(self, store: KVStore, scores: committee_pb2.RoundScores) -> None:
        """Store a round's judgement."""
        _put(self._store(store), keys.scores_key(scores.task_id, scores.round), scores)

    # --- reputation, member points, replay index -----------------------------------------------

    def get_reputation(self, store: KVReader, address: bytes) -> committee_pb2.Reputation | None:
        """An address's reputation record, or None."""
        raw = self._read(store).get(keys.reputation_key(address))
        return committee_pb2.Reputation.FromString(raw) if raw else None

    def set_reputation(self, store: KVStore, address: bytes, rep: committee_pb2.Reputation) -> None:
        """Store a reputation record."""
        _put(self._store(store), keys.reputation_key(address), rep)

    def iterate_reputations(self, store: KVReader) -> Iterator[committee_pb2.Reputation]:
        """Every reputation record, in address order."""
        for _, v in self._read(store).iterate(keys.REPUTATION):
            yield committee_pb2.Reputation.FromString(v)

    def add_member_points(self, store: KVStore, task_id: int, operator: bytes, points: int) -> None:
        """Credit a member with points toward its share of a task's committee reward."""
        ps = self._store(store)
        key = keys.member_points_key(task_id, operator)
        raw = ps.get(key)
        ps.set(key, u64be((from_u64be(raw) if raw else 0) + points))

    def pop_member_points(self, store: KVStore, task_id: int) -> dict[bytes, int]:
        """Every member's points in a task, removed (read once, when the task closes)."""
        ps = self._store(store)
        prefix = keys.member_points_key(task_id)
        points = {}
        for k, v in list(ps.iterate(prefix)):
            points[k[len(prefix) :]] = from_u64be(v)
            ps.delete(k)
        return points

    def get_update_seen(self, store: KVReader, task_id: int, update_hash: bytes) -> int | None:
        """The round in which an update with this hash was first revealed in a task, or None."""
        raw = self._read(store).get(keys.update_seen_key(task_id, update_hash))
        return int.from_bytes(raw, "big") if raw else None

    def set_update_seen(self, store: KVStore, task_id: int, update_hash: bytes, round_: int) -> None:
        """Record the first round an update hash was revealed in a task."""
        self._store(store).set(keys.update_seen_key(task_id, update_hash), round_.to_bytes(4, "big"))

    # --- near-copy check: the last judged round's accepted updates -------------------------------

    def iterate_kept_updates(self, store: KVReader, task_id: int) -> list[tuple[bytes, bytes]]:
        """(worker, update payload) kept from a task's last judged round, in worker order."""
        prefix = keys.near_copy_kept_key(task_id)
        return [(k[len(prefix) :], v) for k, v in self._read(store).iterate(prefix)]

    def set_kept_updates(self, store: KVStore, task_id: int, updates: dict[bytes, bytes]) -> None:
        """Replace a task's kept updates by updates (worker -> payload); empty: just remove them."""
        ps = self._store(store)
        for k, _ in list(ps.iterate(keys.near_copy_kept_key(task_id))):
            ps.delete(k)
        for worker, payload in sorted(updates.items()):
            ps.set(keys.near_copy_kept_key(task_id, worker), payload)
