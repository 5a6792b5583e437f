"""Verify an included transaction and its result against headers the light client verified.

Inclusion: header H's data_hash is the RFC 6962 root over SHA-256 of each tx of block H (CometBFT
types.Txs.Hash), so the block's txs, rehashed, must give it and contain ours. Result: header H+1's
last_results_hash is the root over each tx's deterministic ExecTxResult {code, data, gas_wanted,
gas_used} (types.ABCIResults.Hash). Log, codespace and events are not covered by any header.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from app.client.light import LightClient
from app.client.light.merkle import hash_from_byte_slices
from app.client.rpc import CometRPC
from app.client.verified.errors import TamperedAnswer, TamperedEntry, WrongKey
from app.client.verified.querier import verified_header
from tendermint.abci import types_pb2 as abci

__all__ = ["VerifiedTx", "verify_tx"]


@dataclass(frozen=True)
class VerifiedTx:
    """A transaction proven to be in block `height` at `index`, with its proven result."""

    height: int
    index: int
    tx: bytes
    code: int
    data: bytes
    gas_wanted: int
    gas_used: int


def _result(entry: dict) -> abci.ExecTxResult:
    """The fields of a block_results entry that last_results_hash covers."""
    return abci.ExecTxResult(
        code=int(entry.get("code", 0)),
        data=base64.b64decode(entry.get("data") or ""),
        gas_wanted=int(entry.get("gas_wanted", 0)),
        gas_used=int(entry.get("gas_used", 0)),
    )


def _find_in_block(light: LightClient, rpc: CometRPC, height: int, tx_hash: bytes) -> tuple[int, bytes]:
    """(index, bytes) of the tx in block height, whose txs must hash to the verified data_hash."""
    header = verified_header(light, height)
    txs = [base64.b64decode(t) for t in rpc.block(height)["block"]["data"]["txs"] or []]
    root = hash_from_byte_slices([hashlib.sha256(t).digest() for t in txs])
    if root != header.data_hash:
        raise TamperedEntry(
            f"the transactions served for block {height} hash to {root.hex().upper()}, but its verified "
            f"header commits to {header.data_hash.hex().upper()}"
        )
    for index, tx in enumerate(txs):
        if hashlib.sha256(tx).digest() == tx_hash:
            return index, tx
    raise WrongKey(f"block {height} does not contain transaction {tx_hash.hex().upper()}")


def verify_tx(light: LightClient, rpc: CometRPC, tx_hash: bytes, found: dict) -> VerifiedTx:
    """Check the node's /tx answer `found` for tx_hash; return what the headers prove."""
    height = int(found["height"])
    index, tx = _find_in_block(light, rpc, height, tx_hash)
    entries = rpc.block_results(height).get("txs_results") or []
    results = [_result(e) for e in entries]
    root = hash_from_byte_slices([r.SerializeToString(deterministic=True) for r in results])
    next_header = verified_header(light, height + 1)
    if len(results) <= index or root != next_header.last_results_hash:
        raise TamperedEntry(
            f"the results served for block {height} hash to {root.hex().upper()}, but verified header "
            f"{height + 1} commits to {next_header.last_results_hash.hex().upper()}"
        )
    proven = results[index]
    if _result(found["tx_result"]) != proven or int(found.get("index", index)) != index:
        raise TamperedAnswer(
            f"the node's answer for {tx_hash.hex().upper()} differs from block {height}'s proven result "
            f"(code {proven.code}, gas used {proven.gas_used}, index {index})"
        )
    return VerifiedTx(height, index, tx, proven.code, proven.data, proven.gas_wanted, proven.gas_used)
