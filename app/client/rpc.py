"""A CometBFT JSON-RPC client over HTTP GET (stdlib only), for the CLI, agents and light client.

Parameters go in the query string as CometBFT's URI handler expects them: integers and booleans
bare, byte strings as 0x-prefixed hex, text JSON-quoted.

Each thread keeps one HTTP/1.1 connection to the node open and reuses it (a new TCP connection per
call cost a light client's catch-up a third of its time). A reused connection the node has since
closed (CometBFT drops idle ones) is retried once on a fresh connection; nothing else is retried.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
import urllib.parse
from typing import Any

__all__ = ["RpcError", "NodeUnreachable", "QueryFailed", "CometRPC", "decode_base64"]

_PER_PAGE = 100  # CometBFT's maximum page size for /validators
_START_HINT = "is the node running? start it with `synod start --home H`"


class RpcError(Exception):
    """A CometBFT RPC call failed; `code` and `data` carry the node's JSON-RPC error, if any."""

    def __init__(self, message: str, code: int | None = None, data: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class NodeUnreachable(RpcError):
    """No CometBFT node answered at the URL (refused, unresolvable, or timed out)."""


class QueryFailed(RpcError):
    """The app refused a query with a registered (codespace, code); the message is the app's log."""

    def __init__(self, message: str, code: int | None = None, codespace: str = "") -> None:
        super().__init__(message, code)
        self.codespace = codespace


def decode_base64(value: str | None) -> bytes:
    """Decode a base64 field of an RPC answer (CometBFT writes null for empty bytes)."""
    return base64.b64decode(value) if value else b""


def _encode_param(value: int | bool | bytes | str) -> str:
    """One URI parameter in the form CometBFT's URI handler parses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return json.dumps(value)


def _hash_bytes(tx_hash: bytes | str) -> bytes:
    """A tx hash given as bytes or hex text (with or without 0x)."""
    if isinstance(tx_hash, bytes):
        return tx_hash
    text = tx_hash[2:] if tx_hash.lower().startswith("0x") else tx_hash
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ValueError(f"transaction hash {tx_hash!r} is not hex") from exc


class CometRPC:
    """Calls one node's RPC endpoint; every failure is an RpcError that says what to do."""

    def __init__(self, url: str = "http://127.0.0.1:26657", timeout: float = 10.0) -> None:
        """Talk to the node at url (tcp:// is accepted as http://), waiting at most timeout s."""
        if url.startswith("tcp://"):
            url = "http://" + url[len("tcp://") :]
        self.url = url.rstrip("/")
        self.timeout = timeout
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"CometBFT RPC address {url!r} must look like http://HOST:PORT (or tcp://HOST:PORT)"
            )
        self._connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self._host, self._port, self._path = parts.hostname, parts.port, parts.path
        self._local = threading.local()  # .connection: this thread's kept-alive HTTPConnection

    def _call(self, method: str, **params: int | bool | bytes | str | None) -> Any:
        """GET url/method?params and return the JSON-RPC "result"."""
        query = urllib.parse.urlencode({k: _encode_param(v) for k, v in params.items() if v is not None})
        return self._send(method, f"{self._path}/{method}" + (f"?{query}" if query else ""), None)

    def _post(self, method: str, params: dict[str, Any]) -> Any:
        """A JSON-RPC POST (for bodies too large for a URL: a checkpoint-carrying tx is ~1 MB)."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        return self._send(method, self._path or "/", body)

    def _send(self, method: str, target: str, body: bytes | None) -> Any:
        """GET target (POST body to it if given) and return the JSON-RPC "result"; every failure is an
        RpcError."""
        try:
            status, reason, answer = self._exchange(target, body)
        except OSError as exc:  # refused, unresolvable, reset, timed out
            raise NodeUnreachable(
                f"cannot reach CometBFT RPC at {self.url} ({method}: {exc}); {_START_HINT}"
            ) from exc
        except http.client.HTTPException as exc:
            raise RpcError(f"{method} at {self.url}: not an HTTP answer ({exc!r})") from exc
        # CometBFT answers JSON-RPC errors with HTTP 500 and the error in the body.
        if not 200 <= status < 300 and not self._is_json_rpc(answer):
            raise RpcError(f"{method} at {self.url}: HTTP {status} {reason}")
        return self._result(method, answer)

    def _exchange(self, target: str, body: bytes | None) -> tuple[int, str, bytes]:
        """One HTTP request on this thread's connection: (status, reason, body)."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        while True:
            connection = getattr(self._local, "connection", None)
            reused = connection is not None
            if connection is None:
                connection = self._connection_class(self._host, self._port, timeout=self.timeout)
                self._local.connection = connection
            try:
                connection.request("GET" if body is None else "POST", target, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
            except BaseException as exc:
                self._drop_connection()
                # The node closed a kept-alive connection while it sat idle: it never read this request.
                if reused and isinstance(exc, ConnectionError):
                    continue
                raise
            if response.will_close:
                self._drop_connection()
            return response.status, response.reason, answer

    def _drop_connection(self) -> None:
        """Close this thread's connection; the next call opens a new one."""
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    @staticmethod
    def _is_json_rpc(body: bytes) -> bool:
        """True if body is a JSON-RPC envelope."""
        try:
            return isinstance(json.loads(body), dict)
        except ValueError:
            return False

    def _result(self, method: str, body: bytes) -> Any:
        """The "result" of a JSON-RPC answer, or RpcError carrying the node's message."""
        try:
            answer = json.loads(body)
        except ValueError as exc:
            raise RpcError(f"{method} at {self.url} answered with non-JSON: {body[:200]!r}") from exc
        error = answer.get("error")
        if error:
            data = str(error.get("data") or "")
            raise RpcError(
                f"{method} at {self.url} failed: {error.get('message')} {data}".strip(),
                code=error.get("code"),
                data=data,
            )
        if "result" not in answer:
            raise RpcError(f"{method} at {self.url} answered without a result: {body[:200]!r}")
        return answer["result"]

    def status(self) -> dict[str, Any]:
        """Node info, sync info (latest height, hash, app hash) and validator info."""
        return self._call("status")

    def block(self, height: int | None = None) -> dict[str, Any]:
        """{"block_id": ..., "block": ...} at height (latest if None)."""
        return self._call("block", height=height)

    def block_results(self, height: int | None = None) -> dict[str, Any]:
        """Results of a block: txs_results (codes, events), finalize_block_events, validator_updates."""
        return self._call("block_results", height=height)

    def blockchain(self, min_height: int, max_height: int) -> list[dict[str, Any]]:
        """Block metas ({"block_id", "header", ...}) from max_height down to min_height; CometBFT
        returns at most 20 per call, the highest first."""
        return self._call("blockchain", minHeight=min_height, maxHeight=max_height)["block_metas"]

    def commit(self, height: int | None = None) -> dict[str, Any]:
        """The signed header ({"header", "commit"}) at height (latest if None)."""
        return self._call("commit", height=height)["signed_header"]

    def validators(self, height: int | None = None) -> list[dict[str, Any]]:
        """Every validator of the set at height (latest if None), across all pages."""
        collected: list[dict[str, Any]] = []
        page = 1
        while True:
            result = self._call("validators", height=height, page=page, per_page=_PER_PAGE)
            # Pin the height the first page came from, so later pages read the same set.
            height = int(result["block_height"])
            collected.extend(result["validators"])
            if len(collected) >= int(result["total"]) or not result["validators"]:
                return collected
            page += 1

    def abci_query(self, path: str, data: bytes, height: int = 0, prove: bool = False) -> dict[str, Any]:
        """The app's "response" (key/value base64: see decode_base64); height 0 is latest."""
        return self._call("abci_query", path=path, data=data, height=height, prove=prove)["response"]

    def broadcast_tx_sync(self, tx: bytes) -> dict[str, Any]:
        """Submit tx (POSTed: as hex in a URL a large one passes CometBFT's header limit) and return its
        CheckTx outcome ({"code", "log", "hash", ...}); code 0 = ok."""
        return self._post("broadcast_tx_sync", {"tx": base64.b64encode(tx).decode()})

    def tx(self, tx_hash: bytes | str) -> dict[str, Any] | None:
        """The included tx and its result, or None if the node has not indexed it (yet)."""
        try:
            return self._call("tx", hash=_hash_bytes(tx_hash), prove=False)
        except NodeUnreachable:
            raise
        except RpcError as exc:
            if "not found" in exc.data:
                return None
            raise

    def wait_for_tx(self, tx_hash: bytes | str, timeout: float = 30.0, poll: float = 0.2) -> dict[str, Any]:
        """Poll until tx_hash is included in a block, and return it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.tx(tx_hash)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                shown = _hash_bytes(tx_hash).hex().upper()
                raise RpcError(
                    f"transaction {shown} was not included within {timeout}s at {self.url}: it "
                    "may have been dropped from the mempool; check broadcast's CheckTx code and "
                    "that the node is producing blocks"
                )
            time.sleep(poll)

    def wait_for_height(self, height: int, timeout: float = 30.0) -> dict[str, Any]:
        """Poll status until the latest block height reaches height, and return that status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            latest = int(status["sync_info"]["latest_block_height"])
            if latest >= height:
                return status
            if time.monotonic() >= deadline:
                raise RpcError(
                    f"node at {self.url} is at height {latest}, not {height}, after {timeout}s: "
                    "is it producing blocks (check its log and peers)?"
                )
            time.sleep(0.1)
