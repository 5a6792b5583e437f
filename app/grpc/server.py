"""The gRPC query server: every registered module service, plus reflection and health checking.

It runs on the ABCI server's asyncio loop, in the app process (LevelDB has one owner). Each call
pins a snapshot of committed state on the loop, between ABCI requests, then computes its answer
and proofs in a worker thread, so a large page never stalls consensus and never sees a block that
is being executed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from app.core.errors import SynodError
from app.core.query import MAX_MESSAGE_BYTES, Answer, InvalidQuery, QueryService
from app.grpc.answering import NotCommitted, answer_pinned
from app.metrics import observe_grpc
from app.modules.services import SERVICES
from app.state.backend import Backend

__all__ = ["GrpcBindError", "MetricsInterceptor", "QueryServer", "error_metadata"]

log = logging.getLogger("synod.grpc")

_WORKERS = 2
_STOP_GRACE_SECONDS = 2.0


class GrpcBindError(OSError):
    """The gRPC address could not be bound (in use, or not a local address)."""


class QueryServer:
    """Serves the query services over one backend's committed state."""

    def __init__(self, backend: Backend, services: Sequence[QueryService] = SERVICES) -> None:
        self._backend = backend
        self._services = tuple(services)
        self._server: grpc.aio.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.port = 0

    async def start(self, address: str) -> int:
        """Listen on HOST:PORT (port 0 picks one) and serve; return the bound port."""
        self._executor = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="grpc-query")
        # No SO_REUSEPORT: a second node on the same address must fail, not share the port.
        server = grpc.aio.server(
            interceptors=[MetricsInterceptor()],
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        server.add_generic_rpc_handlers([self._handler(s) for s in self._services])
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        names = [s.name for s in self._services]
        reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
        try:
            self.port = _bind(server, address)
        except GrpcBindError:
            self._executor.shutdown()
            raise
        await server.start()
        for name in names:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        return self.port

    async def stop(self) -> None:
        """Stop accepting calls, let running ones finish briefly, then release the workers."""
        if self._server is not None:
            await self._server.stop(_STOP_GRACE_SECONDS)
            self._server = None
        if self._executor is not None:
            # Workers may still hold a snapshot: they must finish before the database closes.
            self._executor.shutdown(wait=True)
            self._executor = None

    def _handler(self, service: QueryService) -> grpc.GenericRpcHandler:
        """A generic handler routing each method of a service to its answer function."""
        handlers = {
            method: grpc.unary_unary_rpc_method_handler(
                self._method(answer),
                request_deserializer=service.request_class(method).FromString,
                response_serializer=service.response_class(method).SerializeToString,
            )
            for method, answer in service.answers.items()
        }
        return grpc.method_handlers_generic_handler(service.name, handlers)

    def _method(self, answer: Answer) -> Any:
        """The coroutine gRPC calls for one method."""

        async def call(request: Message, context: grpc.aio.ServicerContext) -> Message:
            return await self.answer(answer, request, context)

        return call

    async def answer(self, answer: Answer, request: Message, context: grpc.aio.ServicerContext) -> Message:
        """Pin committed state now, answer in a worker thread; map failures to gRPC status codes."""
        try:
            return await answer_pinned(self._backend, self._executor, lambda r: r.answer(answer, request))
        except NotCommitted as e:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(e))
        except InvalidQuery as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e), error_metadata(e))
        except SynodError as e:
            # Answers raise registered errors only for records that do not exist (yet).
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e), error_metadata(e))
        except Exception as e:
            log.exception("gRPC query failed")
            await context.abort(grpc.StatusCode.INTERNAL, f"query failed: {type(e).__name__}: {e}")
        raise AssertionError("unreachable: context.abort raises")


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every unary call of a served method (synod_grpc_requests, _request_seconds);
    unknown methods (no handler) are not counted, so no caller can add label values."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Wrap the method's unary-unary behaviour; streams (reflection, health Watch) pass as they are."""
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method, behaviour = handler_call_details.method, handler.unary_unary

        async def timed(request: Message, context: grpc.aio.ServicerContext) -> Message:
            start, code = time.perf_counter(), "OK"
            try:
                return await behaviour(request, context)
            except BaseException:
                status = context.code()
                code = status.name if isinstance(status, grpc.StatusCode) else "UNKNOWN"
                raise
            finally:
                observe_grpc(method, code, time.perf_counter() - start)

        return handler._replace(unary_unary=timed)


def error_metadata(error: SynodError) -> tuple[tuple[str, str], ...]:
    """Trailing metadata naming a refusal's registered error, so clients keep its stable code."""
    return (("synod-codespace", error.codespace), ("synod-code", str(error.code)))


def _bind(server: grpc.aio.Server, address: str) -> int:
    """Listen on address; GrpcBindError (in use, or not local) names the setting to change."""
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as e:  # grpcio raises on a failed bind (older versions returned port 0)
        port, detail = 0, str(e)
    else:
        detail = "address in use?"
    if not port:
        raise GrpcBindError(
            f"cannot listen for gRPC on {address} ({detail}): set grpc_address in config/app.toml "
            "to a free HOST:PORT"
        )
    return port
