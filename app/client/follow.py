"""Follow a node's new blocks: CometBFT's websocket subscription, polling /status while it is down.

An agent waits for "a block beyond height H" instead of sleeping a fixed poll interval, so it acts
in the block after a state change and does not spin while nothing changes. One daemon thread per
follower subscribes to `tm.event='NewBlockHeader'` at ws://HOST:PORT/websocket. If the connection
fails or drops, the thread polls /status every poll interval and tries the websocket again with
bounded backoff; each switch between the two is reported once, not per attempt. Every wait has a
timeout, so a silent node never hangs an agent.

NewBlockHeader rather than NewBlock: both are published after the app's Commit (so a query then
reads the new state), but NewBlock carries the whole block and its FinalizeBlock results, and a
block with a checkpoint-carrying tx (~1 MB) would be pushed to every agent and pass the websocket's
message limit; the header holds the height, which is all a follower needs.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from app.client.rpc import CometRPC, RpcError

__all__ = [
    "BlockFollower",
    "BlockWaiter",
    "Notices",
    "SubscriptionError",
    "compute_event_height",
    "follow_node",
    "websocket_url",
]

QUERY = "tm.event='NewBlockHeader'"
_SUBSCRIBE = json.dumps({"jsonrpc": "2.0", "method": "subscribe", "id": 1, "params": {"query": QUERY}})
_OPEN_TIMEOUT = 3.0  # connecting, and the node's answer to subscribe
_FIRST_BACKOFF = 0.5  # seconds of polling before the websocket is tried again; doubles per failure
_MAX_BACKOFF = 5.0
_STATUS_TIMEOUT = 3.0  # one /status call while polling


class BlockWaiter(Protocol):
    """Something an agent can wait on for the next block (a BlockFollower, or a test's fake)."""

    def wait_for_block(self, after_height: int, timeout: float) -> int | None:
        """The latest height once a block beyond after_height is committed; None after timeout s."""


class Notices(Protocol):
    """Where the follower says that it switched between subscribing and polling (an agent's reporter)."""

    def info(self, message: str) -> None:
        """The subscription is up."""

    def warn(self, message: str) -> None:
        """The subscription is down; polling instead."""


class SubscriptionError(Exception):
    """The node refused the subscription, cancelled it, or sent something that is not JSON-RPC."""


def websocket_url(rpc_url: str) -> str:
    """The websocket endpoint beside an RPC URL: http://H:P -> ws://H:P/websocket (https -> wss)."""
    scheme, sep, rest = rpc_url.partition("://")
    if not sep or scheme not in ("http", "https", "tcp"):
        raise ValueError(f"RPC URL {rpc_url!r} is not http://, https:// or tcp://")
    return ("wss" if scheme == "https" else "ws") + "://" + rest.rstrip("/") + "/websocket"


def compute_event_height(message: str | bytes) -> int | None:
    """The height a NewBlockHeader event carries; None for the (empty) answer to subscribe."""
    try:
        answer = json.loads(message)
    except ValueError as exc:
        raise SubscriptionError(f"not JSON: {message[:200]!r}") from exc
    if not isinstance(answer, dict):
        raise SubscriptionError(f"not a JSON-RPC answer: {message[:200]!r}")
    error = answer.get("error")
    if error:
        # e.g. "subscription was canceled (reason: slow client)", or the node shutting down
        detail = (error.get("data") or error.get("message")) if isinstance(error, dict) else error
        raise SubscriptionError(f"the node refused or ended the subscription: {detail}")
    try:
        result = answer["result"]
        if result == {}:
            return None
        return int(result["data"]["value"]["header"]["height"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SubscriptionError(f"not a NewBlockHeader event: {message[:200]!r}") from exc


class BlockFollower:
    """Knows the latest committed height of one node, from its events or, while they fail, its status."""

    def __init__(
        self, ws_url: str, latest_height: Callable[[], int], poll_interval: float, notices: Notices
    ) -> None:
        """Follow ws_url; while its subscription is down, call latest_height every poll_interval s."""
        if poll_interval <= 0:
            raise ValueError(f"poll interval must be positive, got {poll_interval}")
        self.ws_url = ws_url
        self.poll_interval = poll_interval
        self._latest_height = latest_height
        self._notices = notices
        self._height = 0
        self._mode = "starting"  # then "subscribed" or "polling"
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._ws: ClientConnection | None = None
        self._thread = threading.Thread(target=self._run, name=f"follow {ws_url}", daemon=True)

    # --- what agents call -------------------------------------------------------------------

    def wait_for_block(self, after_height: int, timeout: float) -> int | None:
        """The latest height once a block beyond after_height is committed; None after timeout s."""
        if not 0 < timeout < math.inf:
            raise ValueError(f"a wait for a block needs a positive timeout, got {timeout}")
        with self._cond:
            if self._cond.wait_for(lambda: self._height > after_height, timeout):
                return self._height
            return None

    def start(self) -> BlockFollower:
        """Start the reader thread (once)."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the reader thread and close the websocket; waits return as before, on their timeouts."""
        with self._cond:
            self._stop.set()
            ws = self._ws
        if ws is not None:
            ws.close()
        if self._thread.is_alive():
            self._thread.join(timeout=_OPEN_TIMEOUT + _STATUS_TIMEOUT)

    def __enter__(self) -> BlockFollower:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- the reader thread ------------------------------------------------------------------

    def _run(self) -> None:
        """Subscribe; whenever that fails or ends, poll for a while, then subscribe again."""
        backoff = _FIRST_BACKOFF
        while not self._stop.is_set():
            reason = self._subscribe_once()
            if self._stop.is_set():
                return
            if self._mode == "subscribed":
                backoff = _FIRST_BACKOFF  # it was up: after a drop, try again soon
            self._switch_to_polling(reason)
            self._poll_for(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _subscribe_once(self) -> str:
        """Connect, subscribe and take events until that fails or ends; return why it ended."""
        try:
            with connect(self.ws_url, open_timeout=_OPEN_TIMEOUT, close_timeout=1.0) as ws:
                self._follow(ws)
            return "the node closed the connection"
        except (OSError, WebSocketException, SubscriptionError) as exc:  # TimeoutError is an OSError
            return str(exc) or type(exc).__name__

    def _follow(self, ws: ClientConnection) -> None:
        """Subscribe on ws and take its events until it closes (close() closes it from outside)."""
        with self._cond:
            if self._stop.is_set():
                return
            self._ws = ws
        try:
            ws.send(_SUBSCRIBE)
            # The answer to subscribe (or, racing it, a first event) must come promptly.
            self._note(compute_event_height(ws.recv(timeout=_OPEN_TIMEOUT)))
            self._switch_to_subscribed()
            for message in ws:
                self._note(compute_event_height(message))
        finally:
            with self._cond:
                self._ws = None

    def _poll_for(self, duration: float) -> None:
        """Poll the node's height every poll interval for duration s (or until closed); stop early
        when the node answers again after failing to, so the websocket is tried at once rather than
        at the end of a backoff grown while the node was down."""
        deadline = time.monotonic() + duration
        unreachable = False
        while not self._stop.is_set():
            try:
                self._note(self._latest_height())
                if unreachable:
                    return
            except RpcError:  # the node is down too: the warning said we poll
                unreachable = True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._stop.wait(min(self.poll_interval, remaining))

    def _note(self, height: int | None) -> None:
        """Record a new latest height and wake every waiter."""
        if height is None:
            return
        with self._cond:
            if height > self._height:
                self._height = height
                self._cond.notify_all()

    def _switch_to_subscribed(self) -> None:
        """Say once that blocks now come by subscription."""
        if self._mode == "polling":
            self._notices.info(f"resubscribed to new blocks at {self.ws_url}; polling stopped")
        elif self._mode == "starting":
            self._notices.info(f"following new blocks by subscription at {self.ws_url}")
        self._mode = "subscribed"

    def _switch_to_polling(self, reason: str) -> None:
        """Say once that the subscription is down and blocks are polled for."""
        if self._mode != "polling":
            what = "failed" if self._mode == "starting" else "dropped"
            self._notices.warn(
                f"block subscription at {self.ws_url} {what} ({reason}); polling /status every "
                f"{self.poll_interval:g} s and resubscribing when the websocket is back"
            )
            self._mode = "polling"


def _status_height(rpc: CometRPC) -> int:
    """The node's latest block height from /status."""
    try:
        return int(rpc.status()["sync_info"]["latest_block_height"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RpcError(f"status at {rpc.url} has no latest_block_height") from exc


def follow_node(rpc_url: str, poll_interval: float, notices: Notices) -> BlockFollower:
    """A follower of the node at rpc_url (not started: use it in a with block)."""
    status_rpc = CometRPC(rpc_url, timeout=_STATUS_TIMEOUT)
    return BlockFollower(
        websocket_url(status_rpc.url), lambda: _status_height(status_rpc), poll_interval, notices
    )
