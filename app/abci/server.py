"""The ABCI 2.0 socket server (asyncio).

CometBFT opens four connections (consensus, mempool, query, snapshot) and tells them apart only by
what it asks. For each connection we answer strictly in request order; `Flush` is answered after
everything before it and forces the buffered responses onto the wire. All handlers run under one
app lock across connections. Handlers are synchronous, so a request never interleaves with another.
The one exception is Query, where the handlers offer `pin_query`: the committed state is pinned
under the lock, and the answer is computed in a worker thread, so a client's large page never holds
up the consensus connection (the query connection still answers in order: it awaits each answer).

We never answer with `Response.exception` and never close a socket on bad input: CometBFT would
stop. A handler that raises is a bug in the state machine; continuing could fork the node from the
network, so the server stops and the supervisor takes the node down with a message saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Container
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from google.protobuf.message import DecodeError

from app.abci.framing import FrameDecoder, FrameError, encode_frame
from app.metrics import observe_abci, observe_block
from tendermint.abci import types_pb2 as abci

__all__ = ["AbciServer", "parse_address"]

log = logging.getLogger("synod.abci")

_READ_CHUNK = 1 << 20
# Query workers: answers are Python (the GIL), so more threads would not answer faster.
_QUERY_WORKERS = 2
# Without a Flush, still push responses out once this many bytes are buffered.
_HIGH_WATER = 4 << 20


def parse_address(addr: str) -> tuple[str, int | str]:
    """`tcp://127.0.0.1:26658` -> ("tcp", ("127.0.0.1", 26658)); `unix:///path` -> ("unix", path)."""
    if addr.startswith("unix://"):
        return "unix", addr[len("unix://") :]
    hostport = addr.removeprefix("tcp://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"ABCI address {addr!r} must look like tcp://HOST:PORT or unix:///PATH")
    return host, int(port)


class AbciServer:
    """Serves an object with one method per ABCI request type (see app/abci/handlers.py)."""

    def __init__(self, handlers: Any) -> None:
        self._handlers = handlers
        self._lock = asyncio.Lock()
        self._server: asyncio.base_events.Server | None = None
        self._failed: asyncio.Future[BaseException] | None = None
        self._dispatch: dict[str, Callable[[Any], Any]] = {}
        for field in abci.Request.DESCRIPTOR.oneofs_by_name["value"].fields:
            method = getattr(handlers, field.name, None)
            if method is None:
                raise TypeError(f"ABCI handlers lack a method for {field.name}")
            self._dispatch[field.name] = method
        # pin_query(req) -> () -> ResponseQuery, where the handlers can answer queries off the loop.
        self._pin_query: Callable[[Any], Callable[[], Any]] | None = getattr(handlers, "pin_query", None)
        self._query_pool = ThreadPoolExecutor(max_workers=_QUERY_WORKERS, thread_name_prefix="abci-query")
        # The chain's message type URLs, for the metrics' labels (any other type counts as unknown).
        self._msg_types: Container[str] = getattr(getattr(handlers, "app", None), "routes", {})
        self.connections = 0

    async def start(self, address: str) -> None:
        """Listen on a tcp:// or unix:// address."""
        loop = asyncio.get_running_loop()
        self._failed = loop.create_future()
        host, port = parse_address(address)
        if host == "unix":
            self._server = await asyncio.start_unix_server(self._serve, path=str(port))
        else:
            self._server = await asyncio.start_server(self._serve, host, port)

    @property
    def port(self) -> int:
        """The bound TCP port (useful when started on port 0)."""
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def wait_failed(self) -> BaseException:
        """Resolve when a handler fails fatally."""
        assert self._failed is not None
        return await self._failed

    async def stop(self) -> None:
        """Stop listening and close connections; running queries finish (they hold a snapshot)."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        self._query_pool.shutdown(wait=True)

    def _fail(self, exc: BaseException) -> None:
        """Record a fatal handler error once."""
        if self._failed is not None and not self._failed.done():
            self._failed.set_result(exc)

    def handle_request(self, request: abci.Request) -> abci.Response:
        """Dispatch one decoded request to its handler and wrap the answer."""
        kind = request.WhichOneof("value")
        if kind is None:
            raise ValueError("empty ABCI request")
        response = self._dispatch[kind](getattr(request, kind))
        wrapped = abci.Response()
        getattr(wrapped, kind).CopyFrom(response)
        return wrapped

    async def _answer(self, request: abci.Request) -> abci.Response:
        """Answer one request under the app lock; a Query's answer is computed off the loop.

        Every request is timed here (the one place all of them pass) for the metrics, and each
        FinalizeBlock's request and response are counted (app/metrics).
        """
        kind = request.WhichOneof("value") or ""
        if kind != "query" or self._pin_query is None:
            async with self._lock:
                start = time.perf_counter()
                response = self.handle_request(request)
                observe_abci(kind, time.perf_counter() - start)
            if kind == "finalize_block":
                observe_block(request.finalize_block, response.finalize_block, self._msg_types)
            return response
        start = time.perf_counter()
        async with self._lock:
            job = self._pin_query(request.query)
        answer = await asyncio.get_running_loop().run_in_executor(self._query_pool, job)
        observe_abci(kind, time.perf_counter() - start)
        return abci.Response(query=answer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One CometBFT connection: decode frames, answer in order, flush on Flush."""
        self.connections += 1
        decoder = FrameDecoder()
        buffered = 0
        try:
            while True:
                data = await reader.read(_READ_CHUNK)
                if not data:
                    return
                for frame in decoder.feed(data):
                    request = abci.Request.FromString(frame)
                    response = await self._answer(request)
                    out = encode_frame(response.SerializeToString())
                    writer.write(out)
                    buffered += len(out)
                    if request.WhichOneof("value") == "flush" or buffered > _HIGH_WATER:
                        await writer.drain()
                        buffered = 0
        except (FrameError, DecodeError) as e:
            log.error("CometBFT sent bytes that are not ABCI requests: %s", e)
            self._fail(e)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except Exception as e:
            log.exception("ABCI handler failed; stopping so this node cannot diverge")
            self._fail(e)
        finally:
            self.connections -= 1
