"""slashing through the ABCI handlers: double-sign evidence and downtime, with their staking effects.

Misbehavior arrives in FinalizeBlock.misbehavior; liveness in decided_last_commit.votes (ABSENT is a
miss, NIL counts as signed). Invariants (supply, bonded pool, shares) run after every block.
"""

from __future__ import annotations

from app.modules.slashing.hooks import FOREVER
from app.modules.staking.errors import ErrJailPeriod, ErrTombstoned
from synod.slashing.v1 import query_pb2 as slashing_query
from synod.slashing.v1 import slashing_pb2
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
    msg_delegate,
    msg_undelegate,
    msg_unjail,
    updates,
)

FUNDS = 100 * PR
VALIDATORS = {"val1": 10 * PR, "val2": 10 * PR, "val3": 10 * PR}
BALANCES = {**{n: FUNDS for n in VALIDATORS}, "dave": FUNDS}
JAIL_SECONDS = 60


def _chain() -> StakingChain:
    """Height 1: three validators of power 10; window 10, 50% must sign, 60 s downtime jail."""
    chain = StakingChain()
    chain.init(BALANCES, VALIDATORS)
    chain.block()
    return chain


def _evidence(name: str, height: int, power: int, kind: int = abci.DUPLICATE_VOTE) -> abci.Misbehavior:
    return abci.Misbehavior(
        type=kind, validator=abci.Validator(address=cons_address(name), power=power), height=height
    )


def _slash_events(resp: abci.ResponseFinalizeBlock) -> list[dict[str, str]]:
    return [{a.key: a.value for a in e.attributes} for e in resp.events if e.type == "slash"]


def _signing_info(chain: StakingChain, name: str) -> slashing_pb2.SigningInfo:
    infos = chain.ask("slashing", "SigningInfos", slashing_query.QuerySigningInfosRequest()).infos
    (info,) = [i for i in infos if i.consensus_address == cons_address(name).hex().upper()]
    return info


def _evidence_records(chain: StakingChain) -> list[slashing_pb2.Evidence]:
    return list(chain.ask("slashing", "Evidence", slashing_query.QueryEvidenceRequest()).evidence)


def _ok(result: abci.ExecTxResult) -> None:
    assert result.code == 0, result.log


# --- double signing ------------------------------------------------------------------------------


def _double_sign_setup() -> tuple[StakingChain, int]:
    """val1 (with dave's stake) double-signs at height 5; unbondings before and after it."""
    chain = _chain()
    _ok(chain.run_tx("dave", msg_delegate("dave", "val1", 2 * PR)))  # h2: power 12
    _ok(chain.run_tx("dave", msg_undelegate("dave", "val1", PR // 2)))  # h3: before the infraction
    chain.blocks(2)  # h4, h5
    infraction = chain.height
    assert chain.comet_power("val1", infraction) == 11
    _ok(chain.run_tx("dave", msg_undelegate("dave", "val1", PR // 2)))  # h6: after it
    _ok(chain.run_tx("val1", msg_undelegate("val1", "val1", PR)))  # h7: after it
    return chain, infraction


def test_double_sign_burns_5pct_of_infraction_power_from_unbondings_then_tokens() -> None:
    chain, infraction = _double_sign_setup()
    supply, tokens = chain.supply(), int(chain.validator("val1").tokens)
    assert tokens == 10 * PR

    resp = chain.block(misbehavior=[_evidence("val1", infraction, 11)])

    target = 11 * PR * 5 // 100
    from_unbonding = (PR // 2 + PR) * 5 // 100  # only entries created at or after the infraction
    assert chain.supply() == supply - target
    v = chain.validator("val1")
    assert int(v.tokens) == tokens - (target - from_unbonding)
    entries = {(e.creation_height, e.delegator_address): e for e in chain.unbonding()}
    assert [(h, e.balance) for (h, _), e in sorted(entries.items())] == [
        (3, str(PR // 2)),
        (6, str(PR // 2 - PR // 2 * 5 // 100)),
        (7, str(PR - PR * 5 // 100)),
    ]
    assert (v.jailed, v.tombstoned, v.jailed_until) == (True, True, FOREVER)
    assert updates(resp) == {cons_key("val1"): 0}
    assert chain.power("val1") == 0
    assert _slash_events(resp) == [
        {
            "validator": address("val1"),
            "reason": "double_sign",
            "infraction_height": str(infraction),
            "burned": str(target),
            "jailed": "forever",
        }
    ]
    (record,) = _evidence_records(chain)
    assert (record.kind, record.operator_address, record.height, record.power, record.slashed) == (
        "DUPLICATE_VOTE",
        address("val1"),
        infraction,
        11,
        str(target),
    )
    assert record.consensus_address == cons_address("val1").hex().upper()
    info = _signing_info(chain, "val1")
    assert (info.tombstoned, info.jailed_until) == (True, FOREVER)


def test_repeated_evidence_is_handled_once() -> None:
    chain, infraction = _double_sign_setup()
    chain.block(misbehavior=[_evidence("val1", infraction, 11)])
    supply, tokens = chain.supply(), chain.validator("val1").tokens

    # The same evidence again, evidence of another infraction, and evidence naming no validator.
    resp = chain.block(
        misbehavior=[
            _evidence("val1", infraction, 11),
            _evidence("val1", infraction + 1, 11),
            _evidence("nobody", infraction, 5),
        ]
    )

    assert _slash_events(resp) == []
    assert (chain.supply(), chain.validator("val1").tokens) == (supply, tokens)
    assert len(_evidence_records(chain)) == 1
    assert updates(resp) == {}


def test_tombstoned_validator_can_never_unjail_nor_take_delegations() -> None:
    chain, infraction = _double_sign_setup()
    chain.block(misbehavior=[_evidence("val1", infraction, 11)])
    chain.block(time=chain.time + 10**9)  # decades later (and every unbonding paid out)

    assert_rejected(chain, "val1", msg_unjail("val1"), ErrTombstoned)
    assert_rejected(chain, "dave", msg_delegate("dave", "val1", PR), ErrTombstoned)

    assert chain.validator("val1").jailed


def test_slashed_unbonding_pays_out_what_is_left_at_completion() -> None:
    chain, infraction = _double_sign_setup()
    chain.block(misbehavior=[_evidence("val1", infraction, 11)])
    balance = chain.balance("dave")

    chain.block(time=chain.time + 1000)

    assert chain.unbonding() == []
    assert chain.balance("dave") == balance + PR // 2 + (PR // 2 - PR // 2 * 5 // 100)


def test_light_client_attack_is_slashed_like_double_signing() -> None:
    chain = _chain()
    supply = chain.supply()

    resp = chain.block(misbehavior=[_evidence("val2", 1, 10, kind=abci.LIGHT_CLIENT_ATTACK)])

    assert chain.supply() == supply - 10 * PR * 5 // 100
    assert [e["reason"] for e in _slash_events(resp)] == ["light_client_attack"]
    assert chain.validator("val2").tombstoned
    assert [r.kind for r in _evidence_records(chain)] == ["LIGHT_CLIENT_ATTACK"]


# --- downtime ------------------------------------------------------------------------------------


def _past_grace(chain: StakingChain) -> None:
    """Run to height 14: everyone seen since height 2, so past the 10-block grace; val2 votes NIL."""
    chain.blocks(8)
    chain.blocks(5, nil=("val2",))
    assert chain.height == 14


def test_six_absences_in_a_window_of_ten_slash_1pct_and_jail() -> None:
    chain = _chain()
    _past_grace(chain)
    chain.blocks(5, absent=("val3",))  # five misses: the most the window allows
    assert not chain.validator("val3").jailed
    assert _signing_info(chain, "val3").missed_blocks_counter == 5
    supply = chain.supply()

    resp = chain.block(absent=("val3",))

    burnt = 10 * PR // 100
    assert chain.supply() == supply - burnt
    v = chain.validator("val3")
    assert int(v.tokens) == 10 * PR - burnt
    assert (v.jailed, v.tombstoned, v.jailed_until) == (True, False, chain.time + JAIL_SECONDS)
    assert updates(resp) == {cons_key("val3"): 0}
    assert _slash_events(resp) == [
        {
            "validator": address("val3"),
            "reason": "missing_signature",
            "infraction_height": str(chain.height - 2),
            "burned": str(burnt),
            "jailed_until": str(chain.time + JAIL_SECONDS),
        }
    ]
    info = _signing_info(chain, "val3")
    assert (info.missed_blocks_counter, info.index_offset, info.jailed_until) == (0, 0, v.jailed_until)
    # NIL votes counted as signed: val2 missed nothing.
    assert _signing_info(chain, "val2").missed_blocks_counter == 0
    assert not chain.validator("val2").jailed


def test_misses_older_than_the_window_are_forgotten() -> None:
    chain = _chain()
    _past_grace(chain)
    chain.blocks(5, absent=("val3",))
    chain.blocks(5)
    chain.blocks(5, absent=("val3",))  # the same five window slots again

    assert not chain.validator("val3").jailed
    assert _signing_info(chain, "val3").missed_blocks_counter == 5


def test_no_downtime_slash_within_the_first_window() -> None:
    chain = _chain()

    chain.blocks(11, absent=("val3",))  # heights 2..12: seen at 2, grace until 12

    assert not chain.validator("val3").jailed
    chain.block(absent=("val3",))
    assert chain.validator("val3").jailed


def _jailed_for_downtime() -> StakingChain:
    chain = _chain()
    _past_grace(chain)
    chain.blocks(6, absent=("val3",))
    assert chain.validator("val3").jailed
    return chain


def test_unjail_is_refused_until_the_jail_period_ends_then_restores_power() -> None:
    chain = _jailed_for_downtime()
    until = chain.validator("val3").jailed_until

    assert_rejected(chain, "val3", msg_unjail("val3"), ErrJailPeriod, time=until - 1)

    assert chain.validator("val3").jailed
    balance = chain.balance("val3")

    resp = chain.block([chain.tx("val3", msg_unjail("val3"))], time=until)

    _ok(resp.tx_results[0])
    assert not chain.validator("val3").jailed
    assert updates(resp) == {cons_key("val3"): 9}  # 9.9 x 10^6 tokens after the 1% slash
    assert chain.power("val3") == 9 and chain.comet_power("val3", chain.height + 2) == 9
    assert chain.balance("val3") == balance - fee()
    # Back in the set and signing: no further slash.
    chain.blocks(12)
    assert not chain.validator("val3").jailed and chain.power("val3") == 9


def test_unjail_after_the_jail_period_passes_check_tx() -> None:
    chain = _jailed_for_downtime()
    chain.block(time=chain.validator("val3").jailed_until + 1)

    checked = chain.abci.check_tx(abci.RequestCheckTx(tx=chain.tx("val3", msg_unjail("val3"))))

    assert checked.code == 0, checked.log
