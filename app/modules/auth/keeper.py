"""auth keeper: accounts, account numbers, public keys, sequences and params."""

from __future__ import annotations

from collections.abc import Iterator

from app.core.codec import from_u64be, u64be
from app.core.crypto import encode_address
from app.modules.auth import keys
from app.modules.auth.params import default_params
from app.state.kv import KVReader, KVStore, PrefixReader, PrefixStore
from synod.auth.v1 import auth_pb2

__all__ = ["AuthKeeper"]


class AuthKeeper:
    """Owns the auth prefix store; performs no input validation (the ante handler does)."""

    def _store(self, store: KVStore) -> PrefixStore:
        return PrefixStore(store, keys.STORE_PREFIX)

    def _read(self, store: KVReader) -> PrefixReader:
        return PrefixReader(store, keys.STORE_PREFIX)

    def get_params(self, store: KVReader) -> auth_pb2.Params:
        """Current params (defaults before genesis sets them)."""
        raw = self._read(store).get(keys.PARAMS)
        return auth_pb2.Params.FromString(raw) if raw else default_params()

    def set_params(self, store: KVStore, params: auth_pb2.Params) -> None:
        """Store params."""
        self._store(store).set(keys.PARAMS, params.SerializeToString(deterministic=True))

    def get_account(self, store: KVReader, address: bytes) -> auth_pb2.BaseAccount | None:
        """The account at a raw address, or None."""
        raw = self._read(store).get(keys.account_key(address))
        return auth_pb2.BaseAccount.FromString(raw) if raw else None

    def set_account(self, store: KVStore, account: auth_pb2.BaseAccount, address: bytes) -> None:
        """Store an account."""
        self._store(store).set(keys.account_key(address), account.SerializeToString(deterministic=True))

    def _next_account_number(self, store: KVStore) -> int:
        """Take the next account number."""
        ps = self._store(store)
        raw = ps.get(keys.NEXT_ACCOUNT_NUMBER)
        number = from_u64be(raw) if raw else 0
        ps.set(keys.NEXT_ACCOUNT_NUMBER, u64be(number + 1))
        return number

    def ensure_account(self, store: KVStore, address: bytes) -> auth_pb2.BaseAccount:
        """Return the account, creating it with the next account number if it does not exist."""
        account = self.get_account(store, address)
        if account is None:
            account = auth_pb2.BaseAccount(
                address=encode_address(address),
                account_number=self._next_account_number(store),
            )
            self.set_account(store, account, address)
        return account

    def iterate_accounts(self, store: KVReader) -> Iterator[auth_pb2.BaseAccount]:
        """All accounts in address order."""
        for _, raw in self._read(store).iterate(keys.ACCOUNT):
            yield auth_pb2.BaseAccount.FromString(raw)
