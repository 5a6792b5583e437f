"""A chain with staking validators, driven through the ABCI handlers with votes and evidence.

It tracks the validator set as CometBFT would: InitChain's validators sign from height 1, and
updates returned by FinalizeBlock at H take effect at H+2. By default every validator of the
previous block signs it; a block may mark some ABSENT or NIL, or carry misbehavior evidence.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from app.abci.handlers import AbciHandlers
from app.app import SynodApp
from app.client.txbuilder import DEFAULT_GAS, build_tx
from app.core.coins import Coins
from app.core.crypto import address_bytes_from_pubkey, decode_address, module_address
from app.core.errors import ErrorCode
from app.modules.auth import keys as auth_keys
from app.modules.auth.ante import FEE_COLLECTOR
from app.modules.bank import keys as bank_keys
from app.modules.slashing import keys as slashing_keys
from app.state.backend import Backend, MemoryBackend
from synod.bank.v1 import query_pb2 as bank_query
from synod.base.v1 import coin_pb2
from synod.staking.v1 import query_pb2 as staking_query
from synod.staking.v1 import staking_pb2
from synod.staking.v1 import tx_pb2 as staking_tx
from tendermint.abci import types_pb2 as abci
from tendermint.types import validator_pb2
from tests.integration.harness import (
    CHAIN_ID,
    DENOM,
    GENESIS_TIME,
    member_json,
    query_abci,
    test_bls_key,
    test_key,
)

__all__ = [
    "POWER_REDUCTION",
    "BLOCK_SECONDS",
    "StakingChain",
    "address",
    "cons_key",
    "cons_address",
    "coin",
    "msg_create_validator",
    "msg_delegate",
    "msg_undelegate",
    "msg_unjail",
    "updates",
    "fee",
    "state_without_liveness",
    "assert_rejected",
    "validators_on_duty",
]

POWER_REDUCTION = 1_000_000
BLOCK_SECONDS = 5
# Small, fast-to-reason-about params; each test overrides what it exercises.
STAKING_PARAMS = {
    "unbonding_seconds": "100",
    "max_validators": 10,
    "power_reduction": str(POWER_REDUCTION),
    "bond_denom": DENOM,
    "min_self_bond": str(POWER_REDUCTION),
}
SLASHING_PARAMS = {
    "signed_blocks_window": "10",
    "min_signed_per_window_bps": 5000,
    "downtime_jail_seconds": "60",
    "slash_fraction_double_sign_bps": 500,
    "slash_fraction_downtime_bps": 100,
}
COMMIT = validator_pb2.BLOCK_ID_FLAG_COMMIT
ABSENT = validator_pb2.BLOCK_ID_FLAG_ABSENT
NIL = validator_pb2.BLOCK_ID_FLAG_NIL


def address(name: str) -> str:
    """Account (and operator) address of a test key."""
    return test_key(name).address


def cons_key(name: str) -> bytes:
    """The CometBFT consensus public key of a named validator (distinct from its account key)."""
    return test_key("consensus:" + name).public_key


def cons_address(name: str) -> bytes:
    """CometBFT validator address: SHA-256(consensus pubkey)[:20]."""
    return address_bytes_from_pubkey(cons_key(name))


def validators_on_duty(
    names: Sequence[str],
    self_bond: int = 10_000_000,
    models: Sequence[str] = (),
    staking_params: dict[str, Any] | None = None,
) -> dict:
    """Genesis app_state sections: the named validators bonded at genesis, each a committee member
    with its test BLS key (its beacon share counts), and `models` with a registered ensemble model."""
    state: dict = {
        "staking": {
            "params": {**STAKING_PARAMS, **(staking_params or {})},
            "validators": [
                {
                    "operator_address": address(n),
                    "consensus_pubkey": base64.b64encode(cons_key(n)).decode(),
                    "moniker": n,
                    "self_bond": str(self_bond),
                }
                for n in names
            ],
        },
        "committee": {"members": [member_json(address(n), cons_address(n), test_bls_key(n)) for n in names]},
    }
    if models:
        state["consensus"] = {"models": [{"operator": address(n), "model": f"logreg {n}"} for n in models]}
    return state


def coin(amount: int, denom: str = DENOM) -> coin_pb2.Coin:
    """One proto coin."""
    return coin_pb2.Coin(denom=denom, amount=str(amount))


def msg_create_validator(
    name: str, self_bond: int, *, moniker: str | None = None, pubkey: bytes | None = None, denom: str = DENOM
) -> staking_tx.MsgCreateValidator:
    """MsgCreateValidator for a named operator with its own consensus key."""
    return staking_tx.MsgCreateValidator(
        operator_address=address(name),
        consensus_pubkey=cons_key(name) if pubkey is None else pubkey,
        moniker=moniker or name,
        self_bond=coin(self_bond, denom),
    )


def msg_delegate(delegator: str, validator: str, amount: int, denom: str = DENOM) -> staking_tx.MsgDelegate:
    """MsgDelegate between two named keys."""
    return staking_tx.MsgDelegate(
        delegator_address=address(delegator), validator_address=address(validator), amount=coin(amount, denom)
    )


def msg_undelegate(delegator: str, validator: str, amount: int) -> staking_tx.MsgUndelegate:
    """MsgUndelegate between two named keys."""
    return staking_tx.MsgUndelegate(
        delegator_address=address(delegator), validator_address=address(validator), amount=coin(amount)
    )


def msg_unjail(name: str) -> staking_tx.MsgUnjail:
    """MsgUnjail for a named operator."""
    return staking_tx.MsgUnjail(validator_address=address(name))


def genesis_state(
    balances: dict[str, int],
    validators: dict[str, int],
    staking_params: dict | None = None,
    slashing_params: dict | None = None,
) -> bytes:
    """app_state JSON: funded keys, validators bonded from them (self-bond by name), params."""
    return json.dumps(
        {
            "bank": {
                "balances": [
                    {"address": address(n), "coins": [{"denom": DENOM, "amount": str(a)}]}
                    for n, a in sorted(balances.items())
                ]
            },
            "staking": {
                "params": {**STAKING_PARAMS, **(staking_params or {})},
                "validators": [
                    {
                        "operator_address": address(n),
                        "consensus_pubkey": base64.b64encode(cons_key(n)).decode(),
                        "moniker": n,
                        "self_bond": str(bond),
                    }
                    for n, bond in sorted(validators.items())
                ],
            },
            "slashing": {"params": {**SLASHING_PARAMS, **(slashing_params or {})}},
        }
    ).encode()


@dataclass
class StakingChain:
    """One node's app, fed blocks with realistic last-commit votes; invariants on by default."""

    backend: Backend = field(default_factory=MemoryBackend)
    check_invariants: bool = True

    def __post_init__(self) -> None:
        self.app = SynodApp(self.backend, check_invariants=self.check_invariants)
        self.abci = AbciHandlers(self.app)
        self.pending: dict[str, int] = {}
        self.time = GENESIS_TIME
        # CometBFT's validator set per height: consensus pubkey -> power.
        self.valsets: dict[int, dict[bytes, int]] = {}
        self.names: dict[bytes, str] = {}

    # --- genesis and blocks -------------------------------------------------------------------

    def init(
        self,
        balances: dict[str, int],
        validators: dict[str, int],
        staking_params: dict | None = None,
        slashing_params: dict | None = None,
    ) -> abci.ResponseInitChain:
        """InitChain (no block yet): validators bond from their balances and sign from height 1."""
        self.names = {cons_key(n): n for n in [*balances, *validators]}
        resp = self.abci.init_chain(
            abci.RequestInitChain(
                chain_id=CHAIN_ID,
                app_state_bytes=genesis_state(balances, validators, staking_params, slashing_params),
                initial_height=1,
                time=Timestamp(seconds=GENESIS_TIME),
            )
        )
        genesis_set = {u.pub_key.ed25519: u.power for u in resp.validators}
        self.valsets[1] = self.valsets[2] = genesis_set
        return resp

    @property
    def height(self) -> int:
        """Last committed height."""
        return self.app.store.height

    def votes(
        self, height: int, absent: tuple[str, ...] = (), nil: tuple[str, ...] = ()
    ) -> list[abci.VoteInfo]:
        """decided_last_commit of block `height`: the set of height-1, each flagged."""
        if height <= 1:
            return []
        votes = []
        for pk, power in sorted(self.valsets[height - 1].items()):
            name = self.names.get(pk, "")
            flag = ABSENT if name in absent else NIL if name in nil else COMMIT
            votes.append(
                abci.VoteInfo(
                    validator=abci.Validator(address=address_bytes_from_pubkey(pk), power=power),
                    block_id_flag=flag,
                )
            )
        return votes

    def finalize(
        self,
        txs: Sequence[bytes] = (),
        *,
        absent: tuple[str, ...] = (),
        nil: tuple[str, ...] = (),
        misbehavior: Sequence[abci.Misbehavior] = (),
        time: int | None = None,
    ) -> abci.ResponseFinalizeBlock:
        """FinalizeBlock for the next height (no Commit); time advances BLOCK_SECONDS by default."""
        h = self.height + 1
        self.pending.clear()
        self.time = self.time + BLOCK_SECONDS if time is None else time
        resp = self.abci.finalize_block(
            abci.RequestFinalizeBlock(
                height=h,
                txs=list(txs),
                time=Timestamp(seconds=self.time),
                misbehavior=list(misbehavior),
                decided_last_commit=abci.CommitInfo(votes=self.votes(h, absent, nil)),
            )
        )
        nxt = dict(self.valsets[h + 1])
        for u in resp.validator_updates:
            if u.power:
                nxt[u.pub_key.ed25519] = u.power
            else:
                nxt.pop(u.pub_key.ed25519, None)
        self.valsets[h + 2] = nxt
        return resp

    def block(self, txs: Sequence[bytes] = (), **kw) -> abci.ResponseFinalizeBlock:  # noqa: ANN003
        """FinalizeBlock + Commit."""
        resp = self.finalize(txs, **kw)
        self.abci.commit(abci.RequestCommit())
        return resp

    def blocks(self, n: int, **kw) -> list[abci.ResponseFinalizeBlock]:  # noqa: ANN003
        """n empty blocks with the same flags."""
        return [self.block(**kw) for _ in range(n)]

    def run_tx(self, signer: str, *msgs: Message, **kw) -> abci.ExecTxResult:  # noqa: ANN003
        """One tx in its own block; returns its result."""
        return self.block([self.tx(signer, *msgs)], **kw).tx_results[0]

    # --- transactions -------------------------------------------------------------------------

    def tx(self, signer: str, *msgs: Message, gas_limit: int = DEFAULT_GAS) -> bytes:
        """A signed tx from a named key for the next block (fee = gas x 1usyn).

        The sequence is the committed one plus the txs already built for this block, so a tx that
        fails before the ante handler (and so keeps the sequence) does not throw later ones off.
        """
        acc = self.app.auth.get_account(self.app.store.view, decode_address(address(signer)))
        assert acc is not None, f"{signer} has no account"
        offset = self.pending.get(signer, 0)
        self.pending[signer] = offset + 1
        return build_tx(
            test_key(signer),
            list(msgs),
            chain_id=CHAIN_ID,
            account_number=acc.account_number,
            sequence=acc.sequence + offset,
            fee=Coins.of([(DENOM, gas_limit)]),
            gas_limit=gas_limit,
        )

    # --- committed state ----------------------------------------------------------------------

    def ask(self, module: str, method: str, request: Message) -> Any:
        """A module query over ABCI (all pages of a list); it must succeed."""
        return query_abci(self.abci, module, method, request)

    def validator(self, name: str) -> staking_pb2.Validator:
        """A validator from committed state."""
        v = self.app.staking.get_validator(self.app.store.view, decode_address(address(name)))
        assert v is not None, f"{name} is not a validator"
        return v

    def power(self, name: str) -> int:
        """Power last sent to CometBFT (0 if not in the active set)."""
        return self.ask(
            "staking", "Validator", staking_query.QueryValidatorRequest(operator_address=address(name))
        ).power

    def comet_power(self, name: str, height: int) -> int:
        """Power CometBFT uses for `name` at `height` (after the H+2 delay)."""
        return self.valsets[height].get(cons_key(name), 0)

    def balance(self, name: str) -> int:
        """Committed usyn balance of a named key."""
        return self.app.bank.get_balance(self.app.store.view, decode_address(address(name)), DENOM)

    def supply(self) -> int:
        """Total usyn supply, via the bank query."""
        resp = self.ask("bank", "Supply", bank_query.QuerySupplyRequest())
        return sum(int(c.amount) for c in resp.supply if c.denom == DENOM)

    def shares(self, delegator: str, validator: str) -> int:
        """Shares a delegator holds in a validator."""
        return self.app.staking.get_delegation(
            self.app.store.view, decode_address(address(delegator)), decode_address(address(validator))
        )

    def delegation_value(self, delegator: str, validator: str) -> int:
        """Token value of a delegation, via the delegations query (0 if none)."""
        resp = self.ask(
            "staking",
            "Delegations",
            staking_query.QueryDelegationsRequest(delegator_address=address(delegator)),
        )
        for d, bal in zip(resp.delegations, resp.balances, strict=True):
            if d.validator_address == address(validator):
                return int(bal)
        return 0

    def unbonding(self) -> list[staking_pb2.UnbondingEntry]:
        """The unbonding queue, via the query."""
        return list(self.ask("staking", "Unbonding", staking_query.QueryUnbondingRequest()).entries)


def fee(gas_limit: int = DEFAULT_GAS) -> int:
    """The fee `StakingChain.tx` pays."""
    return gas_limit


def updates(resp: abci.ResponseFinalizeBlock) -> dict[bytes, int]:
    """A block's validator updates as consensus pubkey -> power."""
    return {u.pub_key.ed25519: u.power for u in resp.validator_updates}


def state_without_liveness(chain: StakingChain) -> dict[bytes, bytes]:
    """Every committed key except slashing's liveness records (which every block's votes touch)."""
    skip = (
        slashing_keys.STORE_PREFIX + slashing_keys.SIGNING_INFO,
        slashing_keys.STORE_PREFIX + slashing_keys.MISSED,
    )
    return {k: v for k, v in chain.app.store.view.iterate(b"") if not k.startswith(skip)}


def _fee_keys(signer: str) -> set[bytes]:
    """The state keys a tx that fails after the ante handler may change: fee, sequence, fee escrow."""
    payer, collector = decode_address(address(signer)), decode_address(module_address(FEE_COLLECTOR))
    return {
        auth_keys.STORE_PREFIX + auth_keys.account_key(payer),
        auth_keys.STORE_PREFIX + auth_keys.account_key(collector),  # created by the first fee
        auth_keys.STORE_PREFIX + auth_keys.NEXT_ACCOUNT_NUMBER,
        bank_keys.STORE_PREFIX + bank_keys.balance_key(payer, "usyn"),
        bank_keys.STORE_PREFIX + bank_keys.balance_key(collector, "usyn"),
    }


def assert_rejected(
    chain: StakingChain,
    signer: str,
    msg: Message,
    error: ErrorCode,
    *,
    charged: bool = True,
    **block_kw: object,
) -> abci.ExecTxResult:
    """The tx fails with the error's code and changes nothing but the fee and the sequence."""
    state = state_without_liveness(chain)
    balance = chain.balance(signer)

    result = chain.run_tx(signer, msg, **block_kw)

    assert (result.codespace, result.code) == (error.codespace, error.code), result.log
    after = state_without_liveness(chain)
    changed = {k for k in state.keys() | after.keys() if state.get(k) != after.get(k)}
    assert changed <= (_fee_keys(signer) if charged else set()), "only the fee and the sequence may change"
    assert chain.balance(signer) == balance - (fee() if charged else 0)
    return result
