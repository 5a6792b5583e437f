"""CometRPC's transport against a stand-in HTTP server: one kept-alive connection per thread, a
connection the node dropped retried once, and every failure still an RpcError."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.client.rpc import CometRPC, NodeUnreachable, RpcError


class _Node(ThreadingHTTPServer):
    """Answers like CometBFT's RPC; records the client port of every request (one per connection)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ports: list[int] = []
        self.drop_after_answer = False  # close the connection after each answer, as an idle timeout does

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that timed out leaves the slow answer a broken pipe."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as CometBFT's Go server
    server: _Node

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.server.drop_after_answer:
            self.close_connection = True

    def do_GET(self) -> None:
        self.server.ports.append(self.client_address[1])
        method = self.path.split("?")[0].rsplit("/", 1)[-1]
        if method == "status":
            result = {"path": self.path}
            self._answer(200, json.dumps({"jsonrpc": "2.0", "id": -1, "result": result}).encode())
        elif method == "fails":
            error = {"code": -32603, "message": "Internal error", "data": "height 9 is not available"}
            self._answer(500, json.dumps({"jsonrpc": "2.0", "id": -1, "error": error}).encode())
        elif method == "slow":
            time.sleep(1.0)
            self._answer(200, b"{}")
        else:
            self._answer(502, b"<html>bad gateway</html>")

    def do_POST(self) -> None:
        self.server.ports.append(self.client_address[1])
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        result = {"code": 0, "hash": "AB", "method": request["method"]}
        self._answer(200, json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode())


@pytest.fixture
def node() -> Iterator[_Node]:
    server = _Node()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_calls_share_one_connection_per_thread(node: _Node) -> None:
    rpc = CometRPC(node.url.replace("http://", "tcp://"))
    for _ in range(5):
        assert rpc.status()["path"] == "/status"
    assert rpc.broadcast_tx_sync(b"tx")["method"] == "broadcast_tx_sync"
    assert len(node.ports) == 6 and len(set(node.ports)) == 1
    other = threading.Thread(target=rpc.status)
    other.start()
    other.join()
    assert len(set(node.ports)) == 2  # a second thread has its own connection


def test_a_connection_the_node_dropped_is_reopened(node: _Node) -> None:
    node.drop_after_answer = True
    rpc = CometRPC(node.url)
    for _ in range(3):
        rpc.status()
        time.sleep(0.05)  # let the server's close land before the next request
    assert len(set(node.ports)) == 3


def test_a_path_prefix_is_kept(node: _Node) -> None:
    assert CometRPC(node.url + "/rpc/").status()["path"] == "/rpc/status"


def test_the_nodes_json_rpc_error_is_reported(node: _Node) -> None:
    rpc = CometRPC(node.url)
    with pytest.raises(RpcError, match="fails at .* failed: Internal error height 9") as err:
        rpc._call("fails")
    assert err.value.code == -32603 and err.value.data == "height 9 is not available"
    assert rpc.status()  # the connection is still good after an HTTP 500


def test_a_non_json_rpc_answer_is_an_rpc_error(node: _Node) -> None:
    with pytest.raises(RpcError, match="HTTP 502 Bad Gateway") as err:
        CometRPC(node.url)._call("gateway")
    assert not isinstance(err.value, NodeUnreachable)


def test_a_timeout_is_node_unreachable_and_the_next_call_reconnects(node: _Node) -> None:
    rpc = CometRPC(node.url, timeout=0.2)
    with pytest.raises(NodeUnreachable, match="timed out.*is the node running"):
        rpc._call("slow")
    assert rpc.status()["path"] == "/status"


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="http://HOST:PORT"):
        CometRPC("127.0.0.1:26657")
