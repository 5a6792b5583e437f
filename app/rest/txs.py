"""Tx broadcast and lookup in the Cosmos REST shape, forwarded to the node's CometBFT RPC.

    POST /cosmos/tx/v1beta1/txs        {"tx_bytes": "<base64>", "mode": "BROADCAST_MODE_SYNC"}
    GET  /cosmos/tx/v1beta1/txs/{hash}  (hex)

Both answer `{"tx_response": {...}}` as the Cosmos SDK does: a tx the app refuses in CheckTx is still
a 200 whose `code` is the app's registered code (with `codespace` and `raw_log`). A request body is
read only up to what a tx of auth's max_tx_bytes takes in base64 (plus the JSON around it).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from app.core.errors import ErrInvalidRequest, ErrNotFound, ErrTxDecode, ErrTxTooLarge
from app.rest.errors import RestError

__all__ = [
    "BROADCAST_PATH",
    "TX_PATH",
    "compute_body_limit",
    "parse_broadcast",
    "parse_tx_hash",
    "compute_broadcast_response",
    "compute_tx_response",
]

BROADCAST_PATH = "/cosmos/tx/v1beta1/txs"
TX_PATH = "/cosmos/tx/v1beta1/txs/{hash}"
SYNC_MODE = "BROADCAST_MODE_SYNC"
_JSON_SLACK = 1024  # the envelope around tx_bytes: braces, keys, the mode


def compute_body_limit(max_tx_bytes: int) -> int:
    """The largest broadcast body read: a max_tx_bytes tx in base64, plus its JSON envelope."""
    return 4 * -(-max_tx_bytes // 3) + _JSON_SLACK


def parse_broadcast(body: bytes, max_tx_bytes: int) -> bytes:
    """The tx bytes of a broadcast request; RestError 400 for a malformed one, 413 for a tx over
    max_tx_bytes."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise RestError(400, ErrInvalidRequest, "the body is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tx_bytes"), str):
        raise RestError(400, ErrInvalidRequest, 'the body needs "tx_bytes": base64 of the signed tx')
    mode = doc.get("mode", SYNC_MODE)
    if mode != SYNC_MODE:
        raise RestError(400, ErrInvalidRequest, f"mode {mode!r} is not served: use {SYNC_MODE}")
    try:
        tx = base64.b64decode(doc["tx_bytes"], validate=True)
    except (binascii.Error, ValueError):
        raise RestError(400, ErrTxDecode, "tx_bytes is not base64") from None
    if not tx:
        raise RestError(400, ErrTxDecode, "tx_bytes is empty")
    if len(tx) > max_tx_bytes:
        raise RestError(413, ErrTxTooLarge, f"the tx has {len(tx)} bytes; auth allows {max_tx_bytes}")
    return tx


def parse_tx_hash(text: str) -> str:
    """A tx hash as 64 hex digits (0x and case accepted); RestError 400 otherwise."""
    digits = text[2:] if text.lower().startswith("0x") else text
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise RestError(400, ErrInvalidRequest, f"tx hash {text!r} is not 32 bytes of hex")
    return raw.hex().upper()


def compute_broadcast_response(result: dict[str, Any]) -> dict[str, Any]:
    """CometBFT's broadcast_tx_sync result as a Cosmos TxResponse (height 0: not in a block yet)."""
    return {
        "tx_response": {
            "height": "0",
            "txhash": str(result.get("hash", "")),
            "codespace": str(result.get("codespace") or ""),
            "code": int(result.get("code") or 0),
            "data": str(result.get("data") or ""),
            "raw_log": str(result.get("log") or ""),
        }
    }


def compute_tx_response(found: dict[str, Any]) -> dict[str, Any]:
    """CometBFT's /tx result (an included tx) as a Cosmos TxResponse."""
    result = found.get("tx_result") or {}
    return {
        "tx_response": {
            "height": str(found.get("height", "0")),
            "txhash": str(found.get("hash", "")),
            "index": int(found.get("index") or 0),
            "codespace": str(result.get("codespace") or ""),
            "code": int(result.get("code") or 0),
            "data": str(result.get("data") or ""),
            "raw_log": str(result.get("log") or ""),
            "gas_wanted": str(result.get("gas_wanted") or "0"),
            "gas_used": str(result.get("gas_used") or "0"),
            "events": result.get("events") or [],
            "tx": str(found.get("tx") or ""),
        }
    }


def not_found(tx_hash: str) -> RestError:
    """The lookup of a tx the node has not indexed."""
    return RestError(404, ErrNotFound, f"tx {tx_hash} is not in a block this node indexed (yet)")
