"""staking through the ABCI handlers: genesis bonding, create/delegate/undelegate, shares, the active set.

Each test reads pre-state, applies one operation (a tx or a block), and checks the post-state;
invariants (supply, bonded pool, shares) run after every block.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.crypto import decode_address, module_address
from app.core.errors import ErrInsufficientFunds, ErrInvalidAddress, ErrInvalidCoins, ErrInvalidRequest
from app.modules.slashing.hooks import FOREVER
from app.modules.staking.errors import (
    ErrBadDenom,
    ErrConsensusKeyTaken,
    ErrInsufficientShares,
    ErrInvalidConsensusKey,
    ErrNoDelegation,
    ErrNotJailed,
    ErrNoValidator,
    ErrSelfBondTooSmall,
    ErrValidatorExists,
)
from app.modules.staking.keeper import BONDED_POOL
from app.state.backend import LevelDBBackend, MemoryBackend
from synod.staking.v1 import query_pb2 as staking_query
from tendermint.abci import types_pb2 as abci
from tests.integration.staking_harness import (
    POWER_REDUCTION as PR,
)
from tests.integration.staking_harness import (
    StakingChain,
    address,
    assert_rejected,
    cons_address,
    cons_key,
    fee,
    msg_create_validator,
    msg_delegate,
    msg_undelegate,
    msg_unjail,
    updates,
)

FUNDS = 100 * PR
BALANCES = {n: FUNDS for n in ("val1", "val2", "carol", "dave", "erin")}
GENESIS_VALIDATORS = {"val1": 10 * PR + PR // 2, "val2": 5 * PR}


def _chain(**params: object) -> StakingChain:
    """Height 1: val1 (power 10) and val2 (power 5) bonded at genesis; others funded."""
    chain = StakingChain()
    chain.init(BALANCES, GENESIS_VALIDATORS, staking_params=params or None)
    chain.block()
    return chain


def _ok(result: abci.ExecTxResult) -> abci.ExecTxResult:
    assert result.code == 0, result.log
    return result


def _event(result: abci.ExecTxResult, type_: str) -> dict[str, str]:
    (event,) = [e for e in result.events if e.type == type_]
    return {a.key: a.value for a in event.attributes}


def _pool(chain: StakingChain) -> int:
    return chain.app.bank.get_balance(
        chain.app.store.view, decode_address(module_address(BONDED_POOL)), "usyn"
    )


# --- genesis ------------------------------------------------------------------------------------


def test_init_chain_returns_bonded_validators_with_power_from_self_bond() -> None:
    chain = StakingChain()

    resp = chain.init(BALANCES, GENESIS_VALIDATORS)

    assert {u.pub_key.ed25519: u.power for u in resp.validators} == {
        cons_key("val1"): 10,
        cons_key("val2"): 5,
    }
    chain.block()
    listed = chain.ask("staking", "Validators", staking_query.QueryValidatorsRequest())
    by_operator = dict(zip([v.operator_address for v in listed.validators], listed.powers, strict=True))
    assert by_operator == {address("val1"): 10, address("val2"): 5}
    assert chain.validator("val1").tokens == str(10 * PR + PR // 2)
    assert chain.balance("val1") == FUNDS - (10 * PR + PR // 2)
    assert _pool(chain) == 15 * PR + PR // 2
    assert chain.supply() == len(BALANCES) * FUNDS
    # The operator's self-delegation holds all shares, 1:1 with tokens.
    assert chain.shares("val1", "val1") == 10 * PR + PR // 2


# --- create-validator, delegate, undelegate -----------------------------------------------------


def test_create_validator_bonds_self_stake_and_joins_the_set_two_blocks_later() -> None:
    chain = _chain()
    before = chain.balance("carol")

    resp = chain.block([chain.tx("carol", msg_create_validator("carol", 3 * PR, moniker="Carol"))])

    _ok(resp.tx_results[0])
    assert updates(resp) == {cons_key("carol"): 3}
    assert _event(resp.tx_results[0], "create_validator") == {
        "validator": address("carol"),
        "amount": str(3 * PR),
    }
    v = chain.validator("carol")
    assert (v.moniker, v.tokens, v.delegator_shares, v.jailed) == ("Carol", str(3 * PR), str(3 * PR), False)
    assert chain.balance("carol") == before - 3 * PR - fee()
    assert chain.power("carol") == 3
    h = chain.height
    assert chain.comet_power("carol", h + 1) == 0 and chain.comet_power("carol", h + 2) == 3
    assert chain.app.staking.operator_by_consensus(chain.app.store.view, cons_address("carol")) == (
        decode_address(address("carol"))
    )


def test_delegate_mints_shares_raises_power_and_returns_the_update() -> None:
    chain = _chain()

    resp = chain.block([chain.tx("dave", msg_delegate("dave", "val2", 2 * PR))])

    event = _event(_ok(resp.tx_results[0]), "delegate")
    assert event == {
        "delegator": address("dave"),
        "validator": address("val2"),
        "amount": str(2 * PR),
        "shares": str(2 * PR),
    }
    assert updates(resp) == {cons_key("val2"): 7}
    assert chain.shares("dave", "val2") == 2 * PR
    assert chain.delegation_value("dave", "val2") == 2 * PR
    assert chain.balance("dave") == FUNDS - 2 * PR - fee()


def test_delegate_below_one_power_unit_changes_no_power() -> None:
    chain = _chain()

    resp = chain.block([chain.tx("dave", msg_delegate("dave", "val2", PR - 1))])

    _ok(resp.tx_results[0])
    assert updates(resp) == {}
    assert chain.power("val2") == 5
    assert chain.validator("val2").tokens == str(6 * PR - 1)


def test_undelegate_lowers_power_and_queues_tokens_until_exactly_completion_time() -> None:
    chain = _chain()
    _ok(chain.run_tx("dave", msg_delegate("dave", "val1", 4 * PR)))
    assert chain.power("val1") == 14
    balance = chain.balance("dave")

    resp = chain.block([chain.tx("dave", msg_undelegate("dave", "val1", 3 * PR))])

    event = _event(_ok(resp.tx_results[0]), "unbond")
    completion = chain.time + 100
    assert event["completion_time"] == str(completion) and event["amount"] == str(3 * PR)
    assert updates(resp) == {cons_key("val1"): 11}
    (entry,) = chain.unbonding()
    assert (entry.delegator_address, entry.validator_address) == (address("dave"), address("val1"))
    assert (entry.creation_height, entry.completion_time) == (chain.height, completion)
    assert entry.initial_balance == entry.balance == str(3 * PR)
    assert chain.balance("dave") == balance - fee()
    assert chain.delegation_value("dave", "val1") == PR
    # Still escrowed (and slashable) one second before completion...
    chain.block(time=completion - 1)
    assert chain.balance("dave") == balance - fee()
    assert len(chain.unbonding()) == 1
    # ...and paid in full by the first block at or after it.
    done = chain.block(time=completion)
    assert chain.balance("dave") == balance - fee() + 3 * PR
    assert chain.unbonding() == []
    assert [e.type for e in done.events].count("complete_unbonding") == 1


def test_undelegations_on_a_chain_before_1970_mature_at_their_times() -> None:
    # A genesis before 1970 gives negative block times (abci-cli's zero time is year 1).
    chain = StakingChain()
    chain.time = -1_000
    chain.init(BALANCES, GENESIS_VALIDATORS)
    chain.block()
    _ok(chain.run_tx("dave", msg_delegate("dave", "val1", 4 * PR)))
    balance = chain.balance("dave")
    for when in (-500, -480):  # unbonding_seconds is 100
        _ok(chain.run_tx("dave", msg_undelegate("dave", "val1", PR), time=when))
    assert [e.completion_time for e in chain.unbonding()] == [-400, -380]
    chain.block(time=-401)
    assert len(chain.unbonding()) == 2
    chain.block(time=-390)
    assert [e.completion_time for e in chain.unbonding()] == [-380]
    # The block that takes this undelegation (due after 1970) pays the one due at -380.
    _ok(chain.run_tx("dave", msg_undelegate("dave", "val1", PR), time=-30))
    assert [e.completion_time for e in chain.unbonding()] == [70]
    chain.block(time=69)
    assert len(chain.unbonding()) == 1
    chain.block(time=70)
    assert chain.unbonding() == [] and chain.balance("dave") == balance - 3 * fee() + 3 * PR


def test_undelegate_everything_removes_the_delegation() -> None:
    chain = _chain()
    _ok(chain.run_tx("dave", msg_delegate("dave", "val2", 2 * PR + 7)))

    _ok(chain.run_tx("dave", msg_undelegate("dave", "val2", 2 * PR + 7)))

    assert chain.shares("dave", "val2") == 0
    assert (
        chain.ask(
            "staking", "Delegations", staking_query.QueryDelegationsRequest(delegator_address=address("dave"))
        ).delegations
        == []
    )
    assert chain.validator("val2").delegator_shares == str(5 * PR)


# --- shares after a slash ------------------------------------------------------------------------


def _slash_val1_double_sign(chain: StakingChain) -> None:
    """Evidence that val1 double-signed at the last height, with the power it had then (5% burnt)."""
    h = chain.height
    power = chain.comet_power("val1", h)
    misbehavior = abci.Misbehavior(
        type=abci.DUPLICATE_VOTE,
        validator=abci.Validator(address=cons_address("val1"), power=power),
        height=h,
    )
    chain.block(misbehavior=[misbehavior])


def test_slash_cuts_every_delegator_pro_rata() -> None:
    chain = _chain()
    stakes = {"val1": 10 * PR + PR // 2, "carol": 3 * PR + 1, "dave": 7 * PR + 3, "erin": 21}
    chain.block([chain.tx(n, msg_delegate(n, "val1", stakes[n])) for n in ("carol", "dave", "erin")])
    chain.blocks(2)  # the new power is CometBFT's now
    tokens_before = int(chain.validator("val1").tokens)
    assert tokens_before == sum(stakes.values())
    assert chain.comet_power("val1", chain.height) == 20
    supply = chain.supply()

    _slash_val1_double_sign(chain)

    v = chain.validator("val1")
    tokens, total_shares = int(v.tokens), int(v.delegator_shares)
    burnt = 20 * PR * 500 // 10_000  # 5% of the power at the infraction, in tokens
    assert tokens == tokens_before - burnt
    assert chain.supply() == supply - burnt
    assert total_shares == tokens_before  # a slash burns tokens, never shares
    values = {n: chain.delegation_value(n, "val1") for n in stakes}
    for name, stake in stakes.items():
        assert values[name] == stake * tokens // tokens_before, name  # each falls by the same ratio
    assert 0 <= tokens - sum(values.values()) < len(stakes)  # rounding dust stays with the validator


def test_undelegating_the_full_value_after_a_slash_leaves_no_dust_shares() -> None:
    chain = _chain()
    stakes = {"carol": 3 * PR + 1, "dave": 7 * PR + 3, "erin": 21}
    chain.block([chain.tx(n, msg_delegate(n, "val1", stakes[n])) for n in stakes])
    chain.blocks(2)
    _slash_val1_double_sign(chain)

    for name in stakes:
        _ok(chain.run_tx(name, msg_undelegate(name, "val1", chain.delegation_value(name, "val1"))))

    leftovers = {n: chain.shares(n, "val1") for n in stakes}
    # A share worth less than one token cannot be withdrawn: when the whole value is taken out,
    # every share must go (the fraction of a token it was worth stays with the validator).
    assert leftovers == {n: 0 for n in stakes}
    assert int(chain.validator("val1").delegator_shares) == chain.shares("val1", "val1")


# --- the active set -------------------------------------------------------------------------------


def test_max_validators_drops_the_weakest_with_a_zero_update_and_breaks_ties_by_operator() -> None:
    chain = StakingChain()
    chain.init(BALANCES, {"val1": 10 * PR, "val2": 4 * PR}, staking_params={"max_validators": 2})
    chain.block()
    low, high = sorted(("carol", "dave"), key=lambda n: decode_address(address(n)))

    resp = chain.block([chain.tx(n, msg_create_validator(n, 5 * PR)) for n in ("carol", "dave")])

    assert [r.code for r in resp.tx_results] == [0, 0]
    # Both newcomers outrank val2 (4); between the two equal ones the lower operator address wins.
    assert updates(resp) == {cons_key(low): 5, cons_key("val2"): 0}
    assert (chain.power(low), chain.power(high), chain.power("val2")) == (5, 0, 0)
    h = chain.height
    assert set(chain.valsets[h + 2]) == {cons_key("val1"), cons_key(low)}

    # One more token of power lifts the other one over it.
    resp = chain.block([chain.tx("erin", msg_delegate("erin", high, PR))])

    assert updates(resp) == {cons_key(high): 6, cons_key(low): 0}


# --- rejections ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signer", "build", "error"),
    [
        ("carol", lambda: msg_create_validator("carol", 2 * PR, denom="stake"), ErrBadDenom),
        ("dave", lambda: msg_delegate("dave", "val1", PR, denom="stake"), ErrBadDenom),
        ("carol", lambda: msg_create_validator("carol", PR - 1), ErrSelfBondTooSmall),
        ("val1", lambda: msg_create_validator("val1", 2 * PR), ErrValidatorExists),
        (
            "carol",
            lambda: msg_create_validator("carol", 2 * PR, pubkey=cons_key("val2")),
            ErrConsensusKeyTaken,
        ),
        ("dave", lambda: msg_delegate("dave", "carol", PR), ErrNoValidator),
        ("dave", lambda: msg_undelegate("dave", "val1", PR), ErrNoDelegation),
        ("val1", lambda: msg_undelegate("val1", "val1", 10 * PR + PR // 2 + 1), ErrInsufficientShares),
        ("val2", lambda: msg_unjail("val2"), ErrNotJailed),
        ("carol", lambda: msg_unjail("carol"), ErrNoValidator),
        ("dave", lambda: msg_delegate("dave", "val1", FUNDS), ErrInsufficientFunds),
        ("carol", lambda: msg_create_validator("carol", FUNDS), ErrInsufficientFunds),
    ],
)
def test_rejected_message_returns_its_code_and_changes_nothing(signer, build, error) -> None:  # noqa: ANN001
    assert_rejected(_chain(), signer, build(), error)


@pytest.mark.parametrize(
    ("signer", "build", "error"),
    [
        ("carol", lambda: msg_create_validator("carol", 2 * PR, pubkey=b"\x01" * 31), ErrInvalidConsensusKey),
        ("carol", lambda: msg_create_validator("carol", 2 * PR, moniker="x" * 71), ErrInvalidRequest),
        ("dave", lambda: msg_delegate("dave", "val1", 0), ErrInvalidCoins),
    ],
)
def test_stateless_rejection_charges_nothing(signer, build, error) -> None:  # noqa: ANN001
    assert_rejected(_chain(), signer, build(), error, charged=False)


def test_undelegate_more_than_a_partial_delegation_is_refused() -> None:
    chain = _chain()
    _ok(chain.run_tx("dave", msg_delegate("dave", "val2", 1000)))

    assert_rejected(chain, "dave", msg_undelegate("dave", "val2", 1001), ErrInsufficientShares)

    assert chain.delegation_value("dave", "val2") == 1000


def test_delegation_to_a_malformed_validator_address_is_refused_statelessly() -> None:
    chain = _chain()
    msg = msg_delegate("dave", "val1", PR)
    msg.validator_address = "synod1notanaddress"

    assert_rejected(chain, "dave", msg, ErrInvalidAddress, charged=False)


# --- determinism ---------------------------------------------------------------------------------

# Pinned: a change here means the staking state machine (or its encoding) changed.
GOLDEN_APP_HASH = "57c48832d68a176669733f72593f64d96666b85e34c8fde633203bffd967560d"


def _scenario(chain: StakingChain) -> list[bytes]:
    """A fixed staking scenario: create, delegate, undelegate, slash, jail, unjail, maturity."""
    chain.init(BALANCES, GENESIS_VALIDATORS)
    hashes = [chain.block().app_hash]

    def txs(*txs: bytes, **kw: object) -> None:
        resp = chain.block(list(txs), **kw)  # type: ignore[arg-type]
        assert [r.code for r in resp.tx_results] == [0] * len(txs), [r.log for r in resp.tx_results]
        hashes.append(resp.app_hash)

    txs(chain.tx("carol", msg_create_validator("carol", 4 * PR)))
    txs(
        chain.tx("dave", msg_delegate("dave", "carol", 2 * PR + 5)),
        chain.tx("erin", msg_delegate("erin", "val1", 3 * PR)),
    )
    txs(chain.tx("dave", msg_undelegate("dave", "carol", PR)))
    misbehavior = abci.Misbehavior(
        type=abci.DUPLICATE_VOTE,
        validator=abci.Validator(
            address=cons_address("carol"), power=chain.comet_power("carol", chain.height)
        ),
        height=chain.height,
    )
    hashes.append(chain.block(misbehavior=[misbehavior]).app_hash)
    hashes.extend(r.app_hash for r in chain.blocks(12, absent=("val2",)))
    hashes.extend(r.app_hash for r in chain.blocks(3))
    txs(chain.tx("val2", msg_unjail("val2")), time=chain.time + 60)
    hashes.extend(r.app_hash for r in chain.blocks(1, time=chain.time + 100))
    return hashes


def test_staking_scenario_is_deterministic_and_matches_the_golden_hash(tmp_path: Path) -> None:
    first, second = StakingChain(MemoryBackend()), StakingChain(LevelDBBackend(tmp_path / "leveldb"))

    hashes = _scenario(first)

    assert hashes == _scenario(second)
    second.backend.close()
    assert first.validator("carol").tombstoned and first.validator("carol").jailed_until == FOREVER
    assert not first.validator("val2").jailed and first.power("val2") == 4
    assert first.unbonding() == []
    assert hashes[-1].hex() == GOLDEN_APP_HASH
