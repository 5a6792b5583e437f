"""The REST gateway and the gRPC server over one backend, in-process, and a fake CometBFT RPC.

`Gateway` runs both servers on one asyncio loop in a daemon thread, as the app process runs them
beside the ABCI server. `FakeComet` speaks CometBFT's JSON-RPC for the two calls the gateway
forwards: broadcast_tx_sync (POST) and tx (GET /tx?hash=0x..).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.client.rpc import CometRPC
from app.grpc.server import QueryServer
from app.rest.server import RestServer
from app.state.backend import Backend

__all__ = ["FakeComet", "Gateway", "get", "post"]


class Gateway:
    """A QueryServer and a RestServer over one backend, on their own loop."""

    def __init__(self, backend: Backend, rpc: CometRPC | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.grpc = QueryServer(backend)
        self.rest = RestServer(backend, rpc)
        grpc_port = self.loop.run_until_complete(self.grpc.start("127.0.0.1:0"))
        rest_port = self.loop.run_until_complete(self.rest.start("127.0.0.1:0"))
        self.grpc_address = f"127.0.0.1:{grpc_port}"
        self.host, self.port = "127.0.0.1", rest_port
        self.url = f"http://127.0.0.1:{rest_port}"
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop both servers and the loop."""
        for server in (self.rest, self.grpc):
            asyncio.run_coroutine_threadsafe(server.stop(), self.loop).result(timeout=20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def _request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, Any, dict]:
    """One HTTP request: (status, parsed JSON body or raw text, headers)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        kind = response.getheader("content-type", "")
        parsed = json.loads(raw) if kind.startswith("application/json") else raw.decode()
        return response.status, parsed, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def get(gateway: Gateway, path: str) -> tuple[int, Any, dict]:
    """GET path from the gateway."""
    return _request(gateway.port, "GET", path)


def post(gateway: Gateway, path: str, body: bytes) -> tuple[int, Any, dict]:
    """POST a body to the gateway."""
    return _request(gateway.port, "POST", path, body)


class FakeComet:
    """A CometBFT RPC stand-in: accepts every broadcast tx (or answers `check_code`), and finds the
    txs it was given once `include` marks them as in a block."""

    def __init__(self, check_code: int = 0) -> None:
        self.check_code = check_code
        self.received: list[bytes] = []
        self.included: dict[str, dict[str, Any]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:  # noqa: N802 - the http.server interface
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert body["method"] == "broadcast_tx_sync", body
                self._answer(fake.broadcast(base64.b64decode(body["params"]["tx"])))

            def do_GET(self) -> None:  # noqa: N802
                parts = urllib.parse.urlsplit(self.path)
                params = urllib.parse.parse_qs(parts.query)
                assert parts.path == "/tx", parts.path
                found = fake.included.get(params["hash"][0].removeprefix("0x").upper())
                if found is None:
                    error = {"code": -32603, "message": "Internal error", "data": "tx (X) not found"}
                    self._answer(None, error, status=500)
                else:
                    self._answer(found)

            def _answer(self, result: Any, error: Any = None, status: int = 200) -> None:
                envelope: dict[str, Any] = {"jsonrpc": "2.0", "id": 1}
                envelope.update({"error": error} if error else {"result": result})
                data = json.dumps(envelope).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def broadcast(self, tx: bytes) -> dict[str, Any]:
        """CheckTx's answer to tx."""
        self.received.append(tx)
        log = "" if self.check_code == 0 else "insufficient fee"
        codespace = "" if self.check_code == 0 else "sdk"
        tx_hash = hashlib.sha256(tx).hexdigest().upper()
        return {"code": self.check_code, "data": "", "log": log, "codespace": codespace, "hash": tx_hash}

    def include(self, tx: bytes, height: int) -> str:
        """Put tx in a block at height; return its hash."""
        tx_hash = hashlib.sha256(tx).hexdigest().upper()
        self.included[tx_hash] = {
            "hash": tx_hash,
            "height": str(height),
            "index": 0,
            "tx_result": {
                "code": 0,
                "data": None,
                "log": "",
                "info": "",
                "gas_wanted": "200000",
                "gas_used": "51234",
                "events": [{"type": "transfer", "attributes": [{"key": "amount", "value": "5usyn"}]}],
                "codespace": "",
            },
            "tx": base64.b64encode(tx).decode(),
        }
        return tx_hash

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
