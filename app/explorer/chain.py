"""The chain panel and slashing events: what the explorer reads through CometBFT's RPC.

Blocks, txs and the validator set come from the node's RPC (they are CometBFT's, not the app's
state); validators' jailed and tombstoned flags from the staking and slashing modules' queries;
slashing events from each block's FinalizeBlock results (`block_results`), the four event types
the modules emit when they burn stake (below).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Protocol

from app.client.querier import Querier, ask_list
from synod.slashing.v1 import query_pb2 as slashing_q
from synod.staking.v1 import query_pb2 as staking_q

__all__ = [
    "RECENT_BLOCKS",
    "RECENT_TXS",
    "SLASH_EVENTS",
    "ChainRPC",
    "compute_event_dict",
    "compute_slashes",
    "get_block_record",
    "get_chain_panel",
    "get_recent_blocks",
]

# Blocks listed on the page (one /blockchain call returns up to 20 block metas).
RECENT_BLOCKS = 10
# Txs listed on the page (the newest first).
RECENT_TXS = 30
# Event types whose emitters burn stake, and the module each comes from (app/modules/*/hooks.py).
SLASH_EVENTS = {
    "slash": "slashing",  # validator: double_sign, light_client_attack, missing_signature
    "worker_slashed": "tasks",  # worker: rejected update, missed reveal
    "committee_slash": "committee",  # committee member: repeated attestation faults
    "participant_slashed": "consensus",  # prediction participant: missed reveal
}


class ChainRPC(Protocol):
    """The CometBFT RPC calls the explorer makes (app.client.rpc.CometRPC, or a test's fake)."""

    def status(self) -> dict[str, Any]: ...

    def blockchain(self, min_height: int, max_height: int) -> list[dict[str, Any]]: ...

    def block(self, height: int | None = None) -> dict[str, Any]: ...

    def block_results(self, height: int | None = None) -> dict[str, Any]: ...

    def validators(self, height: int | None = None) -> list[dict[str, Any]]: ...

    def abci_query(self, path: str, data: bytes, height: int = 0, prove: bool = False) -> dict[str, Any]: ...


def compute_event_dict(event: dict[str, Any]) -> dict[str, str]:
    """An ABCI event's attributes as {key: value} plus its type under "type"."""
    attrs = {str(a.get("key", "")): str(a.get("value", "")) for a in event.get("attributes") or []}
    return {"type": str(event.get("type", "")), **attrs}


def compute_slashes(height: int, results: dict[str, Any]) -> list[dict[str, Any]]:
    """The stake-burning events of one block's results: block events and every tx's events."""
    events: list[dict[str, Any]] = list(results.get("finalize_block_events") or [])
    for tx in results.get("txs_results") or []:
        events.extend(tx.get("events") or [])
    found = []
    for event in events:
        if event.get("type") in SLASH_EVENTS:
            data = compute_event_dict(event)
            found.append(
                {
                    "height": height,
                    "module": SLASH_EVENTS[data["type"]],
                    "who": data.get("validator")
                    or data.get("worker")
                    or data.get("operator")
                    or data.get("participant", ""),
                    "reason": data.get(
                        "reason", "attestation_faults" if data["type"] == "committee_slash" else ""
                    ),
                    "burned": data.get("burned", ""),
                    "attributes": data,
                }
            )
    return found


def _tx_rows(height: int, block: dict[str, Any], results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per tx of a block: hash, result code, gas used, first message's event type."""
    txs = (block.get("block") or {}).get("data", {}).get("txs") or []
    outcomes = results.get("txs_results") or []
    rows = []
    for index, encoded in enumerate(txs):
        outcome = outcomes[index] if index < len(outcomes) else {}
        actions = [
            compute_event_dict(e).get("action", "").rsplit(".", 1)[-1]
            for e in outcome.get("events") or []
            if e.get("type") == "message"
        ]
        kinds = [e.get("type", "") for e in outcome.get("events") or []]
        action = ", ".join(a for a in actions if a) or (kinds[0] if kinds else "")
        rows.append(
            {
                "height": height,
                "hash": hashlib.sha256(base64.b64decode(encoded)).hexdigest().upper(),
                "code": int(outcome.get("code", 0) or 0),
                "gas_used": int(outcome.get("gas_used", 0) or 0),
                "action": action,
                "log": str(outcome.get("log", ""))[:200] if outcome.get("code") else "",
            }
        )
    return rows


def get_recent_blocks(rpc: ChainRPC, height: int) -> list[dict[str, Any]]:
    """The newest RECENT_BLOCKS blocks up to height: height, time, hash, proposer, tx count."""
    if height < 1:
        return []
    metas = rpc.blockchain(max(1, height - RECENT_BLOCKS + 1), height)
    return [
        {
            "height": int(m["header"]["height"]),
            "time": m["header"]["time"],
            "hash": m["block_id"]["hash"],
            "proposer": m["header"].get("proposer_address", ""),
            "txs": int(m.get("num_txs", 0) or 0),
        }
        for m in metas
    ]


def get_block_record(rpc: ChainRPC, height: int) -> dict[str, Any]:
    """One block's txs and slashing events (a block never changes: the caller caches this)."""
    results = rpc.block_results(height)
    return {"txs": _tx_rows(height, rpc.block(height), results), "slashes": compute_slashes(height, results)}


def _validator_flags(querier: Querier) -> dict[str, dict[str, Any]]:
    """{consensus address hex (upper): moniker, operator, jailed, tombstoned} from staking + slashing."""
    validators = ask_list(querier, "staking", "Validators", staking_q.QueryValidatorsRequest(), "validators")
    infos = ask_list(querier, "slashing", "SigningInfos", slashing_q.QuerySigningInfosRequest(), "infos")
    tombstoned = {i.operator_address for i in infos if i.tombstoned}
    flags = {}
    for v in validators:
        address = hashlib.sha256(bytes(v.consensus_pubkey)).digest()[:20].hex().upper()
        flags[address] = {
            "moniker": v.moniker,
            "operator": v.operator_address,
            "jailed": v.jailed,
            "tombstoned": v.tombstoned or v.operator_address in tombstoned,
            "tokens": v.tokens,
        }
    return flags


def get_chain_panel(
    rpc: ChainRPC, querier: Querier, status: dict[str, Any], records: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """Height, block time, validators (power, jailed, tombstoned), recent blocks and their txs
    (records: the per-height block records already read, {height: get_block_record(...)})."""
    sync = status["sync_info"]
    height = int(sync["latest_block_height"])
    blocks = get_recent_blocks(rpc, height)
    flags = _validator_flags(querier)
    active = {v["address"].upper(): int(v["voting_power"]) for v in rpc.validators()}
    validators = [
        {"address": address, "power": active.get(address, 0), **info} for address, info in flags.items()
    ]
    validators += [
        {"address": a, "power": p, "moniker": "", "operator": "", "jailed": False, "tombstoned": False}
        for a, p in active.items()
        if a not in flags
    ]
    validators.sort(key=lambda v: (-v["power"], v["address"]))
    return {
        "chain_id": status.get("node_info", {}).get("network", ""),
        "height": height,
        "time": sync.get("latest_block_time", ""),
        "app_hash": sync.get("latest_app_hash", ""),
        "validators": validators,
        "blocks": blocks,
        "txs": [tx for b in blocks for tx in records.get(b["height"], {}).get("txs", [])][:RECENT_TXS],
    }
