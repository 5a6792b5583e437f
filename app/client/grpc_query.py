"""A blocking gRPC client for the node's query services (app/grpc), any registered module.

It returns answers as the server sent them, proofs included; app/client/verified checks them.
"""

from __future__ import annotations

import grpc
from google.protobuf.message import Message

from app.grpc.base import QueryService
from app.grpc.registry import get_service

__all__ = ["GrpcQueryClient", "QueryUnavailable", "QueryRejected"]

_DEFAULT_TIMEOUT = 10.0
# Local nodes are reached directly; an http(s)_proxy in the environment must not capture them.
_CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]


class QueryUnavailable(ConnectionError):
    """No gRPC query server answered at the address (down, wrong address, or timed out)."""


class QueryRejected(Exception):
    """The server refused the query; `code` is the gRPC status code and the message its reason."""

    def __init__(self, message: str, code: grpc.StatusCode) -> None:
        super().__init__(message)
        self.code = code


def normalize_address(address: str) -> str:
    """HOST:PORT from `HOST:PORT`, `tcp://HOST:PORT` or `grpc://HOST:PORT`."""
    for scheme in ("tcp://", "grpc://", "http://"):
        if address.startswith(scheme):
            return address[len(scheme) :]
    return address


class GrpcQueryClient:
    """One channel to a node's gRPC query server."""

    def __init__(self, address: str, timeout: float = _DEFAULT_TIMEOUT) -> None:
        """Connect lazily to HOST:PORT; every call waits at most timeout seconds."""
        self.address = normalize_address(address)
        self.timeout = timeout
        self._channel = grpc.insecure_channel(self.address, options=_CHANNEL_OPTIONS)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> GrpcQueryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, service: QueryService | str, method: str, request: Message) -> Message:
        """Call service/method (service by module name or record) and return the raw answer."""
        if isinstance(service, str):
            service = get_service(service)
        if method not in service.answers:
            raise KeyError(f"{service.name} has no method {method!r}; known: {sorted(service.answers)}")
        stub = self._channel.unary_unary(
            service.path(method),
            request_serializer=service.request_class(method).SerializeToString,
            response_deserializer=service.response_class(method).FromString,
        )
        try:
            return stub(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise self._translate(e, service.path(method)) from None

    def _translate(self, error: grpc.RpcError, path: str) -> Exception:
        """A gRPC failure as an error that says what to do."""
        code = error.code()  # type: ignore[attr-defined]
        details = error.details()  # type: ignore[attr-defined]
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return QueryUnavailable(
                f"no answer from the gRPC query server at {self.address} ({path}: {code.name}: {details}); "
                "is the node running, and is this its grpc_address (config/app.toml)? Use --grpc HOST:PORT"
            )
        return QueryRejected(f"{path} at {self.address} refused the query: {code.name}: {details}", code)
