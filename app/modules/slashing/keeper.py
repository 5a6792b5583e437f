"""slashing keeper: signing info, missed-block bitmaps, evidence records, params."""

from __future__ import annotations

from collections.abc import Iterator

from app.modules.slashing import keys
from app.modules.slashing.params import default_params
from app.state.kv import KVReader, KVStore, PrefixReader, PrefixStore
from synod.slashing.v1 import slashing_pb2

__all__ = ["SlashingKeeper"]


class SlashingKeeper:
    """Owns the slashing prefix store."""

    def _store(self, store: KVStore) -> PrefixStore:
        return PrefixStore(store, keys.STORE_PREFIX)

    def _read(self, store: KVReader) -> PrefixReader:
        return PrefixReader(store, keys.STORE_PREFIX)

    def get_params(self, store: KVStore) -> slashing_pb2.Params:
        """Current params."""
        raw = self._store(store).get(keys.PARAMS)
        return slashing_pb2.Params.FromString(raw) if raw else default_params()

    def set_params(self, store: KVStore, params: slashing_pb2.Params) -> None:
        """Store params."""
        self._store(store).set(keys.PARAMS, params.SerializeToString(deterministic=True))

    def get_signing_info(self, store: KVStore, cons: bytes) -> slashing_pb2.SigningInfo | None:
        """Liveness record by consensus address."""
        raw = self._store(store).get(keys.signing_info_key(cons))
        return slashing_pb2.SigningInfo.FromString(raw) if raw else None

    def set_signing_info(self, store: KVStore, cons: bytes, info: slashing_pb2.SigningInfo) -> None:
        """Store a liveness record."""
        self._store(store).set(keys.signing_info_key(cons), info.SerializeToString(deterministic=True))

    def iterate_signing_infos(self, store: KVStore) -> Iterator[slashing_pb2.SigningInfo]:
        """All liveness records."""
        for _, raw in self._store(store).iterate(keys.SIGNING_INFO):
            yield slashing_pb2.SigningInfo.FromString(raw)

    def get_missed(self, store: KVReader, cons: bytes, index: int) -> bool:
        """Whether the block at this window index was missed."""
        return self._read(store).get(keys.missed_key(cons, index)) is not None

    def set_missed(self, store: KVStore, cons: bytes, index: int, missed: bool) -> None:
        """Set one bit of the bitmap (only missed bits are stored)."""
        if missed:
            self._store(store).set(keys.missed_key(cons, index), b"\x01")
        else:
            self._store(store).delete(keys.missed_key(cons, index))

    def clear_missed(self, store: KVStore, cons: bytes) -> None:
        """Reset a validator's bitmap (after a downtime slash)."""
        ps = self._store(store)
        for k, _ in list(ps.iterate(keys.missed_key(cons))):
            ps.delete(k)

    def add_evidence(self, store: KVStore, cons: bytes, ev: slashing_pb2.Evidence) -> None:
        """Record handled evidence."""
        self._store(store).set(keys.evidence_key(ev.height, cons), ev.SerializeToString(deterministic=True))

    def has_evidence(self, store: KVReader, height: int, cons: bytes) -> bool:
        """Whether this infraction was already handled."""
        return self._read(store).get(keys.evidence_key(height, cons)) is not None

    def iterate_evidence(self, store: KVStore) -> Iterator[slashing_pb2.Evidence]:
        """All evidence records by height."""
        for _, raw in self._store(store).iterate(keys.EVIDENCE):
            yield slashing_pb2.Evidence.FromString(raw)
