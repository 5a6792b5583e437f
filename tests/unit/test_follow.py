"""The block follower against a real local websocket server that answers like CometBFT's /websocket.

The server speaks CometBFT's JSON-RPC: it answers `subscribe` with an empty result and pushes
NewBlockHeader events ({"query", "data": {"type", "value": {"header": {"height": "N"}}}, "events"})
to every subscriber. Stopping it is the node going away; starting it again on the same port is the
node coming back. While it is away the follower polls a fake /status (a counter the test moves).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from app.agents.pace import NEXT_BLOCK_POLLS, BlockPacer
from app.client.follow import (
    QUERY,
    BlockFollower,
    SubscriptionError,
    compute_event_height,
    follow_node,
    websocket_url,
)
from app.client.rpc import NodeUnreachable

POLL = 0.05


def _event(height: int) -> str:
    """A NewBlockHeader event as CometBFT v0.38 writes it (heights are JSON strings)."""
    header = {"chain_id": "synod-test", "height": str(height), "time": "2026-01-01T00:00:00.000000001Z"}
    data = {"type": "tendermint/event/NewBlockHeader", "value": {"header": header}}
    result = {"query": QUERY, "data": data, "events": {"tm.event": ["NewBlockHeader"]}}
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": result})


class FakeCometWebsocket:
    """A websocket endpoint on 127.0.0.1 that answers subscribe and publishes heights on demand."""

    def __init__(self, port: int = 0, answer_subscribe: bool = True) -> None:
        self.answer_subscribe = answer_subscribe
        self.requests: list[dict] = []
        self._subscribed = threading.Condition()
        self._server: Server = serve(self._handle, "127.0.0.1", port)
        self.port: int = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The RPC URL a client would be given (the follower derives /websocket from it)."""
        return f"http://127.0.0.1:{self.port}"

    def _handle(self, ws: ServerConnection) -> None:
        """Answer one subscribe, then hold the connection open until either side closes it."""
        try:
            request = json.loads(ws.recv(timeout=5))
            if self.answer_subscribe:
                ws.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": {}}))
            with self._subscribed:
                self.requests.append(request)
                self._subscribed.notify_all()
            for _ in ws:
                pass
        except (ConnectionClosed, TimeoutError):
            pass

    def wait_subscribers(self, count: int, timeout: float = 5.0) -> None:
        """Block until count subscribe requests have arrived (over this server's life)."""
        with self._subscribed:
            assert self._subscribed.wait_for(lambda: len(self.requests) >= count, timeout), self.requests

    def publish(self, height: int) -> None:
        """Send a NewBlockHeader event to every open connection."""
        for connection in self._server.connections:
            connection.send(_event(height))

    def drop(self, abruptly: bool) -> None:
        """Go away: close every connection (with a close frame, or cut like a killed process), then stop."""
        if abruptly:
            for connection in self._server.connections:
                connection.socket.shutdown(socket.SHUT_RDWR)
        self._server.shutdown()
        self._thread.join(timeout=5)


class Notes:
    """A reporter's info and warn channels, recorded."""

    def __init__(self) -> None:
        self.infos: list[str] = []
        self.warns: list[str] = []

    def info(self, message: str) -> None:
        self.infos.append(message)

    def warn(self, message: str) -> None:
        self.warns.append(message)


class FakeStatus:
    """/status as a height the test sets; None is a node that does not answer."""

    def __init__(self, height: int | None = None) -> None:
        self.height = height
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        if self.height is None:
            raise NodeUnreachable("cannot reach CometBFT RPC (fake)")
        return self.height


def _eventually(what: str, probe: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll probe until it holds; fail with what after timeout s."""
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def server() -> Iterator[FakeCometWebsocket]:
    fake = FakeCometWebsocket()
    yield fake
    fake.drop(abruptly=False)


def _follower(url: str, status: FakeStatus, notes: Notes) -> BlockFollower:
    return BlockFollower(websocket_url(url), status, POLL, notes)


# --- pure pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rpc_url", "ws_url"),
    [
        ("http://127.0.0.1:26657", "ws://127.0.0.1:26657/websocket"),
        ("http://node.example:26657/", "ws://node.example:26657/websocket"),
        ("https://rpc.example/comet", "wss://rpc.example/comet/websocket"),
        ("tcp://127.0.0.2:26657", "ws://127.0.0.2:26657/websocket"),
    ],
)
def test_the_websocket_endpoint_sits_beside_the_rpc_url(rpc_url: str, ws_url: str) -> None:
    assert websocket_url(rpc_url) == ws_url


def test_an_rpc_url_without_a_known_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="is not http://"):
        websocket_url("127.0.0.1:26657")


def test_event_heights_the_subscribe_answer_and_errors() -> None:
    assert compute_event_height(_event(42)) == 42
    assert compute_event_height('{"jsonrpc": "2.0", "id": 1, "result": {}}') is None
    cancelled = {
        "code": -32000,
        "message": "Server error",
        "data": "subscription was canceled (reason: slow)",
    }
    with pytest.raises(SubscriptionError, match="slow"):
        compute_event_height(json.dumps({"jsonrpc": "2.0", "id": 1, "error": cancelled}))
    for junk in ("not json", "[1]", '{"result": {"data": {"value": {}}}}'):
        with pytest.raises(SubscriptionError):
            compute_event_height(junk)


def test_the_pacer_waits_on_the_follower_or_sleeps_one_poll() -> None:
    slept: list[float] = []
    assert BlockPacer(0.3, None, slept.append).wait(7) is None and slept == [0.3]
    asked: list[tuple[int, float]] = []

    class Follower:
        def wait_for_block(self, after_height: int, timeout: float) -> int | None:
            asked.append((after_height, timeout))
            return after_height + 1

    assert BlockPacer(0.3, Follower(), slept.append).wait(7) == 8
    assert asked == [(7, pytest.approx(0.3 * NEXT_BLOCK_POLLS))] and slept == [0.3]


# --- against the websocket server -------------------------------------------------------------


def test_the_subscription_delivers_heights_without_polling(server: FakeCometWebsocket) -> None:
    status, notes = FakeStatus(), Notes()
    with _follower(server.url, status, notes) as follower:
        server.wait_subscribers(1)
        _eventually("the follower's answer to subscribe", lambda: bool(notes.infos))
        server.publish(5)
        assert follower.wait_for_block(0, 5.0) == 5
        assert follower.wait_for_block(5, 0.1) is None  # nothing newer yet
        server.publish(6)
        assert follower.wait_for_block(5, 5.0) == 6
        assert follower.wait_for_block(3, 0.1) == 6  # already beyond: at once
    (request,) = server.requests
    assert request["method"] == "subscribe" and request["params"] == {"query": "tm.event='NewBlockHeader'"}
    assert notes.infos == [f"following new blocks by subscription at {websocket_url(server.url)}"]
    assert not notes.warns and status.calls == 0


@pytest.mark.parametrize("abruptly", [False, True], ids=["close-frame", "cut"])
def test_a_dropped_subscription_falls_back_to_polling_and_resubscribes(abruptly: bool) -> None:
    server = FakeCometWebsocket()
    status, notes = FakeStatus(), Notes()
    with _follower(server.url, status, notes) as follower:
        server.wait_subscribers(1)
        server.publish(10)
        assert follower.wait_for_block(0, 5.0) == 10
        server.drop(abruptly)  # the node goes away: its RPC with it
        _eventually("the fallback warning", lambda: bool(notes.warns))
        assert "dropped" in notes.warns[0] and f"polling /status every {POLL:g} s" in notes.warns[0]
        status.height = 11  # the node answers /status again before its websocket is back
        assert follower.wait_for_block(10, 5.0) == 11
        status.height = 12
        assert follower.wait_for_block(11, 5.0) == 12
        server = FakeCometWebsocket(port=server.port)  # the node comes back on the same port
        server.wait_subscribers(1)
        _eventually("the resubscription notice", lambda: len(notes.infos) == 2)
        calls = status.calls
        server.publish(13)
        assert follower.wait_for_block(12, 5.0) == 13
        time.sleep(5 * POLL)
        assert status.calls == calls  # subscribed again: polling stopped
    server.drop(abruptly=False)
    assert notes.infos[1] == f"resubscribed to new blocks at {websocket_url(server.url)}; polling stopped"
    assert len(notes.warns) == 1  # once for the switch, not once per reconnect attempt


def test_a_node_without_a_websocket_is_polled_and_warned_about_once() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status, notes = FakeStatus(3), Notes()
    with _follower(f"http://127.0.0.1:{port}", status, notes) as follower:
        assert follower.wait_for_block(0, 5.0) == 3
        time.sleep(2.0)  # several reconnect attempts (backoff 0.5 s, then 1 s)
        status.height = 4
        assert follower.wait_for_block(3, 5.0) == 4
    (warn,) = notes.warns
    assert "failed" in warn and "refused" in warn.lower()
    assert not notes.infos


def test_every_wait_returns_by_its_timeout() -> None:
    silent = FakeCometWebsocket(answer_subscribe=False)  # accepts, never answers, never publishes
    down = FakeStatus()  # and /status does not answer either
    with _follower(silent.url, down, Notes()) as follower:
        for timeout in (0.05, 0.3):
            started = time.monotonic()
            assert follower.wait_for_block(0, timeout) is None
            assert timeout <= time.monotonic() - started < timeout + 0.5
        for bad in (0, -1, float("inf"), float("nan")):
            with pytest.raises(ValueError, match="positive timeout"):
                follower.wait_for_block(0, bad)
    silent.drop(abruptly=False)


def test_close_is_prompt_and_a_closed_follower_still_times_out(server: FakeCometWebsocket) -> None:
    follower = _follower(server.url, FakeStatus(), Notes()).start()
    server.wait_subscribers(1)
    started = time.monotonic()
    follower.close()
    assert time.monotonic() - started < 1.5
    assert follower.wait_for_block(0, 0.05) is None


def test_follow_node_builds_a_follower_for_an_rpc_url() -> None:
    follower = follow_node("tcp://127.0.0.1:26657", 0.3, Notes())
    assert (follower.ws_url, follower.poll_interval) == ("ws://127.0.0.1:26657/websocket", 0.3)
    with pytest.raises(ValueError, match="poll interval must be positive"):
        follow_node("http://127.0.0.1:26657", 0, Notes())
