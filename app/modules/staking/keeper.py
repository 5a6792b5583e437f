"""staking keeper: validators, delegations (as shares), the unbonding queue, power bookkeeping.

Bonded and unbonding tokens both sit in the `bonded_pool` escrow until they mature, so both are
slashable. The keeper validates nothing a message handler should; it keeps the state consistent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from app.core.codec import decode_amount, encode_amount, from_u64be, u64be
from app.core.coins import Coins
from app.core.crypto import address_bytes_from_pubkey, decode_address, encode_address
from app.modules.staking import keys, logic
from app.modules.staking.errors import (
    ErrInsufficientShares,
    ErrNoDelegation,
    ErrNoValidator,
    ErrValidatorHasNoTokens,
)
from app.modules.staking.expected import StakingBank
from app.modules.staking.params import default_params
from app.state.kv import KVReader, KVStore, PrefixReader, PrefixStore
from synod.staking.v1 import staking_pb2

__all__ = ["BONDED_POOL", "StakingKeeper", "Slashed"]

BONDED_POOL = "bonded_pool"


@dataclass(frozen=True)
class Slashed:
    """What a slash took: from the validator's tokens and from its unbonding entries."""

    from_validator: int
    from_unbonding: int

    @property
    def total(self) -> int:
        return self.from_validator + self.from_unbonding


class StakingKeeper:
    """Owns the staking prefix store."""

    def __init__(self, bank: StakingBank) -> None:
        self.bank = bank

    def _store(self, store: KVStore) -> PrefixStore:
        return PrefixStore(store, keys.STORE_PREFIX)

    def _read(self, store: KVReader) -> PrefixReader:
        return PrefixReader(store, keys.STORE_PREFIX)

    # --- params -------------------------------------------------------------------------------

    def get_params(self, store: KVReader) -> staking_pb2.Params:
        """Current params."""
        raw = self._read(store).get(keys.PARAMS)
        return staking_pb2.Params.FromString(raw) if raw else default_params()

    def set_params(self, store: KVStore, params: staking_pb2.Params) -> None:
        """Store params."""
        self._store(store).set(keys.PARAMS, params.SerializeToString(deterministic=True))

    def _coins(self, store: KVStore, amount: int) -> Coins:
        return Coins.of([(self.get_params(store).bond_denom, amount)])

    # --- validators ---------------------------------------------------------------------------

    def get_validator(self, store: KVReader, operator: bytes) -> staking_pb2.Validator | None:
        """A validator by operator address."""
        raw = self._read(store).get(keys.validator_key(operator))
        return staking_pb2.Validator.FromString(raw) if raw else None

    def require_validator(self, store: KVReader, operator: bytes) -> staking_pb2.Validator:
        """A validator, or ErrNoValidator."""
        v = self.get_validator(store, operator)
        if v is None:
            raise ErrNoValidator.wrap(f"no validator with operator {encode_address(operator)}")
        return v

    @staticmethod
    def new_validator(operator_address: str, consensus_pubkey: bytes, moniker: str) -> staking_pb2.Validator:
        """A validator with no tokens yet (add_tokens bonds the self-delegation)."""
        return staking_pb2.Validator(
            operator_address=operator_address,
            consensus_pubkey=consensus_pubkey,
            moniker=moniker,
            tokens="0",
            delegator_shares="0",
        )

    def set_validator(self, store: KVStore, v: staking_pb2.Validator) -> None:
        """Store a validator and its consensus-address index."""
        operator = decode_address(v.operator_address)
        ps = self._store(store)
        ps.set(keys.validator_key(operator), v.SerializeToString(deterministic=True))
        ps.set(keys.consensus_index_key(address_bytes_from_pubkey(v.consensus_pubkey)), operator)

    def iterate_validators(self, store: KVReader) -> Iterator[staking_pb2.Validator]:
        """All validators in operator order."""
        for _, raw in self._read(store).iterate(keys.VALIDATOR):
            yield staking_pb2.Validator.FromString(raw)

    def operator_by_consensus(self, store: KVReader, consensus_address: bytes) -> bytes | None:
        """The operator behind a CometBFT validator address."""
        return self._read(store).get(keys.consensus_index_key(consensus_address))

    # --- delegations --------------------------------------------------------------------------

    def get_delegation(self, store: KVReader, delegator: bytes, operator: bytes) -> int:
        """Shares held (0 if none)."""
        raw = self._read(store).get(keys.delegation_key(delegator, operator))
        return decode_amount(raw) if raw else 0

    def _set_delegation(self, store: KVStore, delegator: bytes, operator: bytes, shares: int) -> None:
        key = keys.delegation_key(delegator, operator)
        if shares:
            self._store(store).set(key, encode_amount(shares))
        else:
            self._store(store).delete(key)

    def iterate_delegations(
        self, store: KVReader, delegator: bytes = b""
    ) -> Iterator[tuple[bytes, bytes, int]]:
        """(delegator, operator, shares), all or one delegator's."""
        for k, v in self._read(store).iterate(keys.delegation_key(delegator)):
            yield k[1:21], k[21:41], decode_amount(v)

    def add_tokens(self, store: KVStore, delegator: bytes, v: staking_pb2.Validator, amount: int) -> int:
        """Escrow `amount` from the delegator and mint shares for it; returns the shares."""
        tokens, shares = int(v.tokens), int(v.delegator_shares)
        if tokens == 0 and shares:
            raise ErrValidatorHasNoTokens.wrap(f"{v.operator_address} was slashed to zero")
        new_shares = logic.compute_shares_for_tokens(amount, tokens, shares)
        self.bank.send_coins_from_account_to_module(store, delegator, BONDED_POOL, self._coins(store, amount))
        operator = decode_address(v.operator_address)
        v.tokens = str(tokens + amount)
        v.delegator_shares = str(shares + new_shares)
        self.set_validator(store, v)
        self._set_delegation(
            store, delegator, operator, self.get_delegation(store, delegator, operator) + new_shares
        )
        return new_shares

    def remove_tokens(self, store: KVStore, delegator: bytes, v: staking_pb2.Validator, amount: int) -> int:
        """Burn the shares worth `amount` tokens; returns the tokens taken off the validator."""
        operator = decode_address(v.operator_address)
        held = self.get_delegation(store, delegator, operator)
        if held == 0:
            raise ErrNoDelegation.wrap(
                f"{encode_address(delegator)} has no delegation to {v.operator_address}"
            )
        tokens, shares = int(v.tokens), int(v.delegator_shares)
        worth = logic.compute_tokens_for_shares(held, tokens, shares)
        if amount > worth:
            raise ErrInsufficientShares.wrap(f"delegation is worth {worth}, cannot undelegate {amount}")
        # Withdrawing the whole value burns every share: rounding must not strand dust shares.
        burn = held if amount == worth else min(held, logic.compute_shares_to_remove(amount, tokens, shares))
        self._set_delegation(store, delegator, operator, held - burn)
        v.tokens = str(tokens - amount)
        v.delegator_shares = str(shares - burn)
        self.set_validator(store, v)
        return amount

    def self_bond(self, store: KVReader, v: staking_pb2.Validator) -> int:
        """Token value of the operator's own delegation."""
        operator = decode_address(v.operator_address)
        held = self.get_delegation(store, operator, operator)
        return logic.compute_tokens_for_shares(held, int(v.tokens), int(v.delegator_shares))

    # --- unbonding ----------------------------------------------------------------------------

    def _next_unbonding_id(self, store: KVStore) -> int:
        ps = self._store(store)
        raw = ps.get(keys.NEXT_UNBONDING_ID)
        n = from_u64be(raw) if raw else 0
        ps.set(keys.NEXT_UNBONDING_ID, u64be(n + 1))
        return n

    def add_unbonding(
        self, store: KVStore, delegator: bytes, operator: bytes, amount: int, height: int, completion: int
    ) -> staking_pb2.UnbondingEntry:
        """Queue tokens to return at `completion` (block-time seconds)."""
        entry = staking_pb2.UnbondingEntry(
            delegator_address=encode_address(delegator),
            validator_address=encode_address(operator),
            creation_height=height,
            completion_time=completion,
            initial_balance=str(amount),
            balance=str(amount),
            id=self._next_unbonding_id(store),
        )
        self._put_unbonding(store, entry)
        self._store(store).set(
            keys.unbonding_by_validator_key(operator, entry.id), keys.unbonding_queue_time(completion)
        )
        return entry

    def _put_unbonding(self, store: KVStore, entry: staking_pb2.UnbondingEntry) -> None:
        key = keys.unbonding_queue_key(entry.completion_time, entry.id)
        self._store(store).set(key, entry.SerializeToString(deterministic=True))

    def iterate_unbonding(self, store: KVStore) -> Iterator[staking_pb2.UnbondingEntry]:
        """All unbonding entries in completion order."""
        for _, raw in self._store(store).iterate(keys.UNBONDING_QUEUE):
            yield staking_pb2.UnbondingEntry.FromString(raw)

    def complete_unbonding(self, store: KVStore, now: int) -> list[staking_pb2.UnbondingEntry]:
        """Pay out every entry whose completion time has come; returns them."""
        done = []
        for entry in self.iterate_unbonding(store):
            if entry.completion_time > now:
                if entry.completion_time > 0:
                    break  # the rest of the queue is in completion-time order
                continue  # entries due before 1970 share queue time 0 (keys.unbonding_queue_time)
            done.append(entry)
        ps = self._store(store)
        for entry in done:
            delegator = decode_address(entry.delegator_address)
            operator = decode_address(entry.validator_address)
            if int(entry.balance):
                self.bank.send_coins_from_module_to_account(
                    store, BONDED_POOL, delegator, self._coins(store, int(entry.balance))
                )
            ps.delete(keys.unbonding_queue_key(entry.completion_time, entry.id))
            ps.delete(keys.unbonding_by_validator_key(operator, entry.id))
        return done

    # --- slashing, jailing, power -------------------------------------------------------------

    def slash(
        self, store: KVStore, operator: bytes, infraction_height: int, power: int, fraction_bps: int
    ) -> Slashed:
        """Burn a fraction of the stake the validator had at the infraction.

        Unbonding entries created at or after the infraction are slashed first, by the same
        fraction of their initial balance; the rest comes off the validator's tokens (never below
        zero). The burnt tokens leave the bonded pool and the supply.
        """
        params = self.get_params(store)
        target = logic.compute_slash_amount(power, int(params.power_reduction), fraction_bps)
        from_unbonding = 0
        ps = self._store(store)
        for k, raw_time in list(ps.iterate(keys.unbonding_by_validator_key(operator))):
            entry_id = from_u64be(k[-8:])
            raw = ps.get(keys.unbonding_queue_key(from_u64be(raw_time), entry_id))
            assert raw is not None, "unbonding index points at a missing entry"
            entry = staking_pb2.UnbondingEntry.FromString(raw)
            if entry.creation_height < infraction_height:
                continue
            cut = min(int(entry.balance), int(entry.initial_balance) * fraction_bps // logic.BPS)
            entry.balance = str(int(entry.balance) - cut)
            self._put_unbonding(store, entry)
            from_unbonding += cut
        v = self.require_validator(store, operator)
        from_validator = min(int(v.tokens), max(0, target - from_unbonding))
        v.tokens = str(int(v.tokens) - from_validator)
        self.set_validator(store, v)
        burnt = from_validator + from_unbonding
        if burnt:
            self.bank.burn_coins(store, BONDED_POOL, self._coins(store, burnt))
        return Slashed(from_validator, from_unbonding)

    def jail(self, store: KVStore, operator: bytes, until: int, tombstone: bool = False) -> None:
        """Take a validator out of the active set until `until` (or for good if tombstoned)."""
        v = self.require_validator(store, operator)
        v.jailed = True
        v.jailed_until = max(v.jailed_until, until)
        v.tombstoned = v.tombstoned or tombstone
        self.set_validator(store, v)

    def get_last_powers(self, store: KVReader) -> dict[bytes, int]:
        """Powers last sent to CometBFT, by operator."""
        return {k[1:]: from_u64be(v) for k, v in self._read(store).iterate(keys.LAST_POWER)}

    def apply_validator_set(self, store: KVStore) -> list[tuple[bytes, int]]:
        """Recompute the active set; store it and return (consensus pubkey, power) changes."""
        params = self.get_params(store)
        reduction = int(params.power_reduction)
        candidates = [
            (decode_address(v.operator_address), logic.compute_power(int(v.tokens), reduction))
            for v in self.iterate_validators(store)
            if not v.jailed
        ]
        new = logic.select_validator_set(candidates, params.max_validators)
        last = self.get_last_powers(store)
        updates = []
        ps = self._store(store)
        for operator, power in logic.compute_validator_updates(last, new):
            if power:
                ps.set(keys.last_power_key(operator), u64be(power))
            else:
                ps.delete(keys.last_power_key(operator))
            updates.append((self.require_validator(store, operator).consensus_pubkey, power))
        return updates
