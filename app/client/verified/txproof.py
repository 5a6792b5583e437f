"""Verify an included transaction and its result against headers the light client verified.

Inclusion: header H's data_hash is the RFC 6962 root over SHA-256 of each tx of block H (CometBFT
types.Txs.Hash), so the block's txs, rehashed, must give it and contain ours. Result: header H+1's
last_results_hash is the root over each tx's deterministic ExecTxResult {code, data, gas_wanted,
gas_used} (types.ABCIResults.Hash). Log, codespace and events are not covered by any header.

Two ways to check: verify_tx reads the whole block and its results from the node (the CLI's
`synod query tx --verify`); a TxProof carries just the two Merkle paths (the REST gateway's
`?verify=true`, built by compute_tx_proof), which verify_tx_proof checks against the same headers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from app.client.light import LightClient
from app.client.light.merkle import compute_aunts, compute_root_from_aunts, hash_from_byte_slices
from app.client.rpc import CometRPC
from app.client.verified.errors import TamperedAnswer, TamperedEntry, WrongKey
from app.client.verified.querier import verified_header
from tendermint.abci import types_pb2 as abci

__all__ = ["VerifiedTx", "compute_tx_proof", "verify_tx", "verify_tx_proof"]


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


def _path(items: list[bytes], index: int, height: int, header_field: str, leaf: bytes) -> dict:
    """One Merkle path as JSON: the leaf (base64), its index among total, the aunts (base64)."""
    return {
        "height": str(height),
        "header_field": header_field,
        "index": index,
        "total": len(items),
        "leaf": base64.b64encode(leaf).decode(),
        "aunts": [base64.b64encode(a).decode() for a in compute_aunts(items, index)],
    }


def compute_tx_proof(tx_hash: bytes, block: dict, results: dict) -> dict:
    """The proof of a tx in block (CometBFT /block) and of its result in results (/block_results):
    the path of SHA-256(tx) to header H's data_hash and of its ExecTxResult to H+1's
    last_results_hash. WrongKey if the block does not hold the tx."""
    height = int(block["block"]["header"]["height"])
    txs = [base64.b64decode(t) for t in block["block"]["data"]["txs"] or []]
    hashes = [hashlib.sha256(t).digest() for t in txs]
    if tx_hash not in hashes:
        raise WrongKey(f"block {height} does not contain transaction {tx_hash.hex().upper()}")
    index = hashes.index(tx_hash)
    leaves = [_result(e).SerializeToString(deterministic=True) for e in results.get("txs_results") or []]
    if len(leaves) != len(txs):
        raise TamperedEntry(f"block {height} has {len(txs)} transactions but {len(leaves)} results")
    inclusion = _path(hashes, index, height, "data_hash", txs[index])
    inclusion["tx"] = inclusion.pop("leaf")  # the tx itself; its tree leaf is SHA-256(tx)
    return {
        "inclusion": inclusion,
        "result": _path(leaves, index, height + 1, "last_results_hash", leaves[index]),
    }


def _check_path(light: LightClient, path: dict, leaf: bytes, field: str) -> int:
    """Height of the verified header whose field the path's root must equal; TamperedEntry if not."""
    height, index, total = int(path["height"]), int(path["index"]), int(path["total"])
    aunts = [base64.b64decode(a) for a in path["aunts"]]
    root = compute_root_from_aunts(index, total, leaf, aunts)
    expected = getattr(verified_header(light, height), field)
    if root is None or root != expected:
        raise TamperedEntry(
            f"the {field} path of the proof does not lead to verified header {height}'s "
            f"{expected.hex().upper()}"
        )
    return height


def verify_tx_proof(light: LightClient, tx_hash: bytes, proof: dict, answer: dict) -> VerifiedTx:
    """Check a gateway's tx answer (its tx_response, as JSON) by its proof; return what is proven.

    The tx's bytes must hash to tx_hash and lead to header H's data_hash at their index; the
    result leaf must lead to H+1's last_results_hash at the same index and agree with the answer's
    code and gas. TamperedEntry, TamperedAnswer or WrongKey otherwise (a malformed proof is a
    TamperedAnswer)."""
    try:
        return _verify_tx_proof(light, tx_hash, proof, answer)
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error, DecodeError) as e:
        raise TamperedAnswer(
            f"the proof of {tx_hash.hex().upper()} is malformed: {type(e).__name__} {e}"
        ) from None


def _verify_tx_proof(light: LightClient, tx_hash: bytes, proof: dict, answer: dict) -> VerifiedTx:
    """verify_tx_proof, raising whatever a malformed proof makes it raise."""
    inclusion, result = proof["inclusion"], proof["result"]
    tx = base64.b64decode(inclusion["tx"], validate=True)
    if hashlib.sha256(tx).digest() != tx_hash:
        raise WrongKey(f"the proven transaction is not {tx_hash.hex().upper()}")
    height = _check_path(light, inclusion, hashlib.sha256(tx).digest(), "data_hash")
    leaf = base64.b64decode(result["leaf"])
    if int(result["height"]) != height + 1 or int(result["index"]) != int(inclusion["index"]):
        raise TamperedAnswer("the result proof is not for the proven transaction's block and index")
    _check_path(light, result, leaf, "last_results_hash")
    proven = abci.ExecTxResult.FromString(leaf)
    claimed = (int(answer.get("code", 0)), int(answer.get("gas_wanted", 0)), int(answer.get("gas_used", 0)))
    if claimed != (proven.code, proven.gas_wanted, proven.gas_used) or int(answer.get("height", 0)) != height:
        raise TamperedAnswer(
            f"the answer for {tx_hash.hex().upper()} differs from block {height}'s proven result "
            f"(code {proven.code}, gas used {proven.gas_used})"
        )
    index = int(inclusion["index"])
    return VerifiedTx(height, index, tx, proven.code, proven.data, proven.gas_wanted, proven.gas_used)
