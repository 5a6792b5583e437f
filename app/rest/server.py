"""The REST gateway: JSON over HTTP for every query rpc, tx broadcast and lookup, and /metrics.

It runs in the app process on the ABCI server's asyncio loop (uvicorn serving a Starlette app, as a
task), beside the gRPC server, and answers like it (app/grpc/answering.py): each query pins a
snapshot of committed state on the loop and computes its answer, proofs and JSON in a worker
thread, so a large page never stalls consensus. Txs are forwarded to the node's CometBFT RPC in
threads of their own, so a slow node never holds up queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn
from google.protobuf import json_format
from google.protobuf.message import Message
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.client.rpc import CometRPC, NodeUnreachable, RpcError
from app.client.verified.txproof import compute_tx_proof
from app.core.query import QueryService
from app.grpc.answering import answer_pinned
from app.metrics import observe_rest, render
from app.modules.auth import query_server as auth_queries
from app.modules.services import SERVICES
from app.rest import txs
from app.rest.errors import ErrRpcFailed, ErrRpcUnavailable, RestError, compute_error, compute_http_error
from app.rest.openapi import compute_openapi
from app.rest.routes import Route, compute_routes, is_verify, parse_request
from app.state.backend import Backend
from app.state.proving import CommittedReader
from synod.auth.v1 import query_pb2 as auth_query

__all__ = ["RestBindError", "RestServer", "render_answer"]

log = logging.getLogger("synod.rest")

_QUERY_WORKERS = 2  # answers are Python (the GIL): more threads would not answer faster
_TX_WORKERS = 2
# Connections and requests in flight at once; uvicorn answers 503 past it, so a flood queues nowhere
# and at most this many rendered answers wait for slow readers (see README.md, what a flood costs).
_MAX_CONCURRENCY = 64
# HTTP methods counted by name; any other token a client sends counts as "other" (bounded labels).
_METHODS = frozenset({"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"})
_STOP_SECONDS = 5.0
HEIGHT_HEADER = "x-synod-height"
Endpoint = Callable[[Request], Awaitable[Response]]


class RestBindError(OSError):
    """The REST address could not be bound (in use, or not a local address)."""


def render_answer(response: Message, verify: bool) -> bytes:
    """A response as JSON (the proto3 mapping, field names as in the protos, defaults printed), with
    its StateProof only when asked to verify."""
    if not verify:
        response.ClearField("proof")
    doc = json_format.MessageToDict(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return json.dumps(doc, separators=(",", ":")).encode()


class _Uvicorn(uvicorn.Server):
    """uvicorn without its signal handlers: the node's supervisor owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the process's signal handling alone."""
        yield


class _Metrics:
    """ASGI middleware counting and timing each request by its route template (never its raw path)."""

    def __init__(self, app: ASGIApp, templates: dict[Any, str]) -> None:
        self.app, self.templates = app, templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def sending(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = self.templates.get(scope.get("endpoint"), "unmatched")
            method = scope.get("method", "")
            method = method if method in _METHODS else "other"
            observe_rest(route, method, status, time.perf_counter() - start)


def _error(exc: BaseException) -> JSONResponse:
    """The JSON answer of a failure."""
    status, body = compute_error(exc)
    return JSONResponse(body, status_code=status)


class RestServer:
    """Serves the query services, tx forwarding and metrics over one backend's committed state."""

    def __init__(
        self, backend: Backend, rpc: CometRPC | None = None, services: Sequence[QueryService] = SERVICES
    ) -> None:
        """rpc: the node's CometBFT RPC, where txs go (None: the tx routes answer 503)."""
        self._backend = backend
        self._rpc = rpc
        self.routes = compute_routes(tuple(services))
        self._openapi = json.dumps(compute_openapi(self.routes)).encode()
        self._executor: ThreadPoolExecutor | None = None
        self._tx_executor: ThreadPoolExecutor | None = None
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task | None = None
        self.port = 0
        self.app = self._build_app()

    # --- the application ------------------------------------------------------------------------

    def _build_app(self) -> ASGIApp:
        """The Starlette app: one GET per rpc, the tx routes, /openapi.json and /metrics."""
        endpoints: list[tuple[str, Endpoint, list[str]]] = [
            (r.template, self._query_endpoint(r), ["GET"]) for r in self.routes
        ]
        endpoints += [
            (txs.BROADCAST_PATH, self._broadcast, ["POST"]),
            (txs.TX_PATH, self._lookup, ["GET"]),
            ("/openapi.json", self._openapi_document, ["GET"]),
            ("/metrics", self._metrics, ["GET"]),
        ]
        app = Starlette(
            routes=[StarletteRoute(path, ep, methods=methods) for path, ep, methods in endpoints],
            exception_handlers={HTTPException: self._http_error, Exception: self._internal_error},
        )
        return _Metrics(app, {ep: path for path, ep, _ in endpoints})

    @staticmethod
    async def _http_error(request: Request, exc: Exception) -> Response:
        """No such route, or the wrong method: JSON, with a pointer to the document."""
        assert isinstance(exc, HTTPException)
        detail = f"{request.method} {request.url.path}: {exc.detail} (GET /openapi.json lists the routes)"
        return JSONResponse(compute_http_error(exc.status_code, detail), status_code=exc.status_code)

    @staticmethod
    async def _internal_error(request: Request, exc: Exception) -> Response:
        """A bug: logged, answered without a traceback."""
        return _error(exc)

    def _query_endpoint(self, route: Route) -> Endpoint:
        """The handler of one rpc's route."""
        answer = route.service.answers[route.method]

        async def endpoint(request: Request) -> Response:
            try:
                verify = is_verify(request.query_params)
                message = parse_request(route, request.path_params, request.query_params)
                body, height = await answer_pinned(
                    self._backend,
                    self._executor,
                    lambda reader: (render_answer(reader.answer(answer, message), verify), reader.height),
                    prove=verify,
                )
            except Exception as e:
                return _error(e)
            return Response(body, media_type="application/json", headers={HEIGHT_HEADER: str(height)})

        return endpoint

    async def _openapi_document(self, request: Request) -> Response:
        """The OpenAPI 3 document (generated once, at construction)."""
        return Response(self._openapi, media_type="application/json")

    async def _metrics(self, request: Request) -> Response:
        """The Prometheus exposition, rendered in a worker thread."""
        body, content_type = await asyncio.get_running_loop().run_in_executor(self._executor, render)
        return Response(body, media_type=content_type)

    # --- txs ------------------------------------------------------------------------------------

    async def _max_tx_bytes(self) -> int:
        """auth's max_tx_bytes in committed state (read without proofs)."""

        def read(reader: CommittedReader) -> int:
            return auth_queries.answer_params(reader, auth_query.QueryParamsRequest()).params.max_tx_bytes

        return await answer_pinned(self._backend, self._executor, read, prove=False)

    async def _forward(self, call: Callable[[CometRPC], Any]) -> Any:
        """Run call(rpc) in a tx worker; its failures as 503 (unreachable) or 502."""
        if self._rpc is None:
            raise RestError(503, ErrRpcUnavailable, "this gateway has no CometBFT RPC address")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._tx_executor, call, self._rpc)
        except NodeUnreachable as e:
            raise RestError(503, ErrRpcUnavailable, str(e)) from None
        except RpcError as e:
            raise RestError(502, ErrRpcFailed, str(e)) from None

    async def _broadcast(self, request: Request) -> Response:
        """POST a signed tx: CheckTx's answer from the node."""
        try:
            max_tx_bytes = await self._max_tx_bytes()
            body = await _read_body(request, txs.compute_body_limit(max_tx_bytes))
            tx = txs.parse_broadcast(body, max_tx_bytes)
            result = await self._forward(lambda rpc: rpc.broadcast_tx_sync(tx))
        except Exception as e:
            return _error(e)
        return JSONResponse(txs.compute_broadcast_response(result))

    async def _lookup(self, request: Request) -> Response:
        """GET an included tx by hash; with ?verify=true, the Merkle paths of the tx and its result
        to headers H and H+1 (app/client/verified/txproof.py) beside it."""
        try:
            tx_hash = txs.parse_tx_hash(request.path_params["hash"])
            found = await self._forward(lambda rpc: rpc.tx(tx_hash))
            if found is None:
                raise txs.not_found(tx_hash)
            body = txs.compute_tx_response(found)
            if is_verify(request.query_params):
                height = int(found["height"])
                body["proof"] = await self._forward(
                    lambda rpc: compute_tx_proof(
                        bytes.fromhex(tx_hash), rpc.block(height), rpc.block_results(height)
                    )
                )
        except Exception as e:
            return _error(e)
        return JSONResponse(body)

    # --- serving --------------------------------------------------------------------------------

    async def start(self, address: str) -> int:
        """Listen on HOST:PORT (port 0 picks one) and serve on this loop; return the bound port."""
        sock = _bind(address)
        self.port = sock.getsockname()[1]
        self._executor = ThreadPoolExecutor(max_workers=_QUERY_WORKERS, thread_name_prefix="rest-query")
        self._tx_executor = ThreadPoolExecutor(max_workers=_TX_WORKERS, thread_name_prefix="rest-tx")
        config = uvicorn.Config(
            self.app,
            log_config=None,  # the node configures logging
            access_log=False,
            lifespan="off",
            ws="none",
            server_header=False,
            limit_concurrency=_MAX_CONCURRENCY,
            timeout_graceful_shutdown=int(_STOP_SECONDS),
        )
        self._server = _Uvicorn(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                await self._task  # raises why it stopped
                raise RestBindError(f"the REST server on {address} stopped while starting")
            await asyncio.sleep(0.005)
        return self.port

    async def stop(self) -> None:
        """Stop accepting requests, let running ones finish briefly, then release the workers."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, _STOP_SECONDS * 2)
            self._server = self._task = None
        for executor in (self._executor, self._tx_executor):
            if executor is not None:
                # Workers may still hold a snapshot: they must finish before the database closes.
                executor.shutdown(wait=True)
        self._executor = self._tx_executor = None


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes limit bytes, so no flood is buffered."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RestError(413, txs.ErrTxTooLarge, f"the body has {declared} bytes; at most {limit} are read")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RestError(413, txs.ErrTxTooLarge, f"the body passes {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _bind(address: str) -> socket.socket:
    """A listening socket on HOST:PORT; RestBindError names the setting to change."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise RestBindError(f"api_address {address!r} must look like HOST:PORT (config/app.toml)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # SO_REUSEADDR only (a restart may rebind at once); no SO_REUSEPORT: a second node must fail.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: a response's head and body go out at once (asyncio sets it only
    # on the sockets it creates, and without it a kept-alive client waits ~40 ms for a delayed ACK).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, int(port)))
    except OSError as e:
        sock.close()
        raise RestBindError(
            f"cannot listen for REST on {address} ({e.strerror or e}): set api_address in "
            'config/app.toml to a free HOST:PORT, or to "" to turn the gateway off'
        ) from None
    sock.setblocking(False)
    return sock
