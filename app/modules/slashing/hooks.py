"""slashing block hooks, run at the start of FinalizeBlock before any transaction.

Double signing (or a light-client attack): slash a fraction of the stake the validator had at the
infraction height (the evidence carries that power), jail and tombstone it for good.
Downtime: each block's `decided_last_commit` says who signed the previous block; a validator that
missed more than the window allows is slashed 1% and jailed for a while, after which MsgUnjail
brings it back.
"""

from __future__ import annotations

from app.core.context import BlockInfo
from app.core.crypto import encode_address
from app.core.events import EventManager
from app.modules.slashing import logic
from app.modules.slashing.expected import SlashingStaking
from app.modules.slashing.keeper import SlashingKeeper
from app.modules.slashing.types import Misbehavior, VoteInfo
from app.state.kv import KVStore
from synod.slashing.v1 import slashing_pb2

__all__ = ["process_misbehavior", "process_liveness", "FOREVER"]

# jailed_until for tombstoned validators: never reachable by block time.
FOREVER = (1 << 63) - 1
# Validator updates take effect two blocks later: the power that signed block H was set at H-2.
VALIDATOR_UPDATE_DELAY = 2


def process_misbehavior(
    store: KVStore,
    block: BlockInfo,
    staking: SlashingStaking,
    keeper: SlashingKeeper,
    evidence: list[Misbehavior],
    events: EventManager,
) -> None:
    """Slash, jail and tombstone each validator named by new evidence (once per infraction)."""
    params = keeper.get_params(store)
    for ev in evidence:
        operator = staking.operator_by_consensus(store, ev.address)
        if operator is None or keeper.has_evidence(store, ev.height, ev.address):
            continue
        validator = staking.require_validator(store, operator)
        if validator.tombstoned:
            continue
        slashed = staking.slash(store, operator, ev.height, ev.power, params.slash_fraction_double_sign_bps)
        staking.jail(store, operator, FOREVER, tombstone=True)
        info = _signing_info(store, keeper, ev.address, operator, block.height)
        info.tombstoned = True
        info.jailed_until = FOREVER
        keeper.set_signing_info(store, ev.address, info)
        keeper.add_evidence(
            store,
            ev.address,
            slashing_pb2.Evidence(
                kind=ev.kind,
                consensus_address=ev.address.hex().upper(),
                operator_address=validator.operator_address,
                height=ev.height,
                power=ev.power,
                time=ev.time_seconds,
                slashed=str(slashed.total),
            ),
        )
        events.emit(
            "slash",
            validator=validator.operator_address,
            reason="double_sign" if ev.kind != "LIGHT_CLIENT_ATTACK" else "light_client_attack",
            infraction_height=ev.height,
            burned=slashed.total,
            jailed="forever",
        )


def _signing_info(
    store: KVStore, keeper: SlashingKeeper, cons: bytes, operator: bytes, height: int
) -> slashing_pb2.SigningInfo:
    """A validator's liveness record, created on first sight."""
    info = keeper.get_signing_info(store, cons)
    if info is None:
        info = slashing_pb2.SigningInfo(
            consensus_address=cons.hex().upper(),
            operator_address=encode_address(operator),
            start_height=height,
        )
    return info


def process_liveness(
    store: KVStore,
    block: BlockInfo,
    staking: SlashingStaking,
    keeper: SlashingKeeper,
    votes: list[VoteInfo],
    events: EventManager,
) -> None:
    """Update each validator's missed-block window; slash and jail those below the minimum."""
    params = keeper.get_params(store)
    window = params.signed_blocks_window
    for vote in votes:
        operator = staking.operator_by_consensus(store, vote.address)
        if operator is None:
            continue
        validator = staking.require_validator(store, operator)
        if validator.jailed:
            continue
        info = _signing_info(store, keeper, vote.address, operator, block.height)
        index = info.index_offset % window
        info.index_offset += 1
        missed = not vote.signed
        if missed != keeper.get_missed(store, vote.address, index):
            keeper.set_missed(store, vote.address, index, missed)
            info.missed_blocks_counter += 1 if missed else -1
        past_grace = block.height > info.start_height + window
        if past_grace and logic.is_downtime(
            info.missed_blocks_counter, window, params.min_signed_per_window_bps
        ):
            infraction = max(1, block.height - VALIDATOR_UPDATE_DELAY)
            slashed = staking.slash(
                store, operator, infraction, vote.power, params.slash_fraction_downtime_bps
            )
            until = block.time_seconds + params.downtime_jail_seconds
            staking.jail(store, operator, until)
            info.jailed_until = until
            info.missed_blocks_counter = 0
            info.index_offset = 0
            info.start_height = block.height
            keeper.clear_missed(store, vote.address)
            events.emit(
                "slash",
                validator=validator.operator_address,
                reason="missing_signature",
                infraction_height=infraction,
                burned=slashed.total,
                jailed_until=until,
            )
        keeper.set_signing_info(store, vote.address, info)
