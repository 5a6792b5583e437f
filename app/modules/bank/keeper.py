"""bank keeper: balances, supply, and module escrow accounts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from app.core.codec import decode_amount, encode_amount
from app.core.coins import Coins
from app.core.crypto import ADDRESS_LEN, decode_address, encode_address, module_address
from app.core.errors import ErrInsufficientFunds
from app.modules.bank import keys
from app.modules.bank.errors import ErrSupply, ErrUnknownModule
from app.modules.bank.params import default_params
from app.state.kv import KVReader, KVStore, PrefixReader, PrefixStore
from synod.bank.v1 import bank_pb2

__all__ = ["BankKeeper", "AccountCreator"]


class AccountCreator(Protocol):
    """What bank needs from auth: an account exists once it holds tokens."""

    def ensure_account(self, store: KVStore, address: bytes) -> object: ...


class BankKeeper:
    """Owns the bank prefix store. Module escrows are ordinary balances of keyless addresses."""

    def __init__(self, accounts: AccountCreator, module_names: tuple[str, ...]) -> None:
        self.accounts = accounts
        self.module_addresses = {name: decode_address(module_address(name)) for name in sorted(module_names)}

    def _store(self, store: KVStore) -> PrefixStore:
        return PrefixStore(store, keys.STORE_PREFIX)

    def _read(self, store: KVReader) -> PrefixReader:
        return PrefixReader(store, keys.STORE_PREFIX)

    def get_params(self, store: KVReader) -> bank_pb2.Params:
        """Current params."""
        raw = self._read(store).get(keys.PARAMS)
        return bank_pb2.Params.FromString(raw) if raw else default_params()

    def set_params(self, store: KVStore, params: bank_pb2.Params) -> None:
        """Store params."""
        self._store(store).set(keys.PARAMS, params.SerializeToString(deterministic=True))

    def module_account(self, name: str) -> bytes:
        """Raw address of a module escrow account."""
        try:
            return self.module_addresses[name]
        except KeyError:
            raise ErrUnknownModule.wrap(f"no module account named {name!r}") from None

    def get_balance(self, store: KVReader, address: bytes, denom: str) -> int:
        """One balance (0 if none)."""
        raw = self._read(store).get(keys.balance_key(address, denom))
        return decode_amount(raw) if raw else 0

    def get_all_balances(self, store: KVReader, address: bytes) -> Coins:
        """Every non-zero balance of an address."""
        prefix = keys.balance_key(address)
        pairs = [(k[len(prefix) :].decode(), decode_amount(v)) for k, v in self._read(store).iterate(prefix)]
        return Coins.of(pairs)

    def set_balance(self, store: KVStore, address: bytes, denom: str, amount: int) -> None:
        """Write a balance; zero balances are deleted so the state holds no dust keys."""
        key = keys.balance_key(address, denom)
        if amount:
            self._store(store).set(key, encode_amount(amount))
        else:
            self._store(store).delete(key)

    def _subtract(self, store: KVStore, address: bytes, coins: Coins) -> None:
        """Debit coins, failing if any balance would go negative."""
        for denom, amount in coins:
            have = self.get_balance(store, address, denom)
            if have < amount:
                raise ErrInsufficientFunds.wrap(
                    f"{encode_address(address)} has {have}{denom}, needs {amount}{denom}"
                )
            self.set_balance(store, address, denom, have - amount)

    def _add(self, store: KVStore, address: bytes, coins: Coins) -> None:
        """Credit coins, creating the recipient's account if needed."""
        self.accounts.ensure_account(store, address)
        for denom, amount in coins:
            self.set_balance(store, address, denom, self.get_balance(store, address, denom) + amount)

    def send_coins(self, store: KVStore, sender: bytes, recipient: bytes, coins: Coins) -> None:
        """Move coins between two addresses."""
        self._subtract(store, sender, coins)
        self._add(store, recipient, coins)

    def send_coins_from_account_to_module(
        self, store: KVStore, sender: bytes, module: str, coins: Coins
    ) -> None:
        """Escrow coins in a module account."""
        self.send_coins(store, sender, self.module_account(module), coins)

    def send_coins_from_module_to_account(
        self, store: KVStore, module: str, recipient: bytes, coins: Coins
    ) -> None:
        """Release escrowed coins to an account."""
        self.send_coins(store, self.module_account(module), recipient, coins)

    def get_supply(self, store: KVReader, denom: str) -> int:
        """Total amount of a denom in existence."""
        raw = self._read(store).get(keys.supply_key(denom))
        return decode_amount(raw) if raw else 0

    def iterate_supply(self, store: KVReader) -> Iterator[tuple[str, int]]:
        """(denom, supply) in denom order."""
        for k, v in self._read(store).iterate(keys.SUPPLY):
            yield k[1:].decode(), decode_amount(v)

    def set_supply(self, store: KVStore, denom: str, amount: int) -> None:
        if amount:
            self._store(store).set(keys.supply_key(denom), encode_amount(amount))
        else:
            self._store(store).delete(keys.supply_key(denom))

    def mint_coins(self, store: KVStore, module: str, coins: Coins) -> None:
        """Create coins in a module account (supply grows)."""
        for denom, amount in coins:
            self.set_supply(store, denom, self.get_supply(store, denom) + amount)
        self._add(store, self.module_account(module), coins)

    def burn_coins(self, store: KVStore, module: str, coins: Coins) -> None:
        """Destroy coins held by a module account (supply shrinks)."""
        self._subtract(store, self.module_account(module), coins)
        for denom, amount in coins:
            left = self.get_supply(store, denom) - amount
            if left < 0:
                raise ErrSupply.wrap(f"burning {amount}{denom} exceeds its supply")
            self.set_supply(store, denom, left)

    def iterate_balances(self, store: KVReader) -> Iterator[tuple[bytes, str, int]]:
        """Every (address, denom, amount) in key order."""
        for k, v in self._read(store).iterate(keys.BALANCE):
            yield k[1 : 1 + ADDRESS_LEN], k[1 + ADDRESS_LEN :].decode(), decode_amount(v)
