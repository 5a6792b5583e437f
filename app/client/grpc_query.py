"""A blocking gRPC client for the node's query services (app/modules/services.py), any module.

It returns answers as the server sent them, proofs included; app/client/verified checks them. As a
`Querier` (app/client/querier.py) it is an unverified transport like abci_query.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message

from app.client.querier import collect_pages
from app.client.rpc import QueryFailed
from app.core.query import MAX_MESSAGE_BYTES, QueryService
from app.modules.services import get_service

__all__ = ["GrpcQueryClient", "QueryUnavailable", "QueryRejected", "normalize_address"]

_DEFAULT_TIMEOUT = 10.0
_CHANNEL_OPTIONS = [
    # Local nodes are reached directly; an http(s)_proxy in the environment must not capture them.
    ("grpc.enable_http_proxy", 0),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


class QueryUnavailable(ConnectionError):
    """No gRPC query server answered at the address (down, wrong address, or timed out)."""


class QueryRejected(QueryFailed):
    """The server refused the query: `status` is the gRPC status code, `codespace`/`code` the
    registered error when the server named one (a record that does not exist yet, a bad address)."""

    def __init__(
        self, message: str, status: grpc.StatusCode, code: int | None = None, codespace: str = ""
    ) -> None:
        super().__init__(message, code, codespace)
        self.status = status


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
        self.last_height = 0
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
            response = stub(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise self._translate(e, service.path(method)) from None
        self.last_height = response.proof.height  # type: ignore[attr-defined]
        return response

    def ask(self, module: str, method: str, request: Message) -> Any:
        """One answer, unverified (its proof is left as served)."""
        return self.call(module, method, request)

    def ask_all(self, module: str, method: str, request: Message) -> Any:
        """Every page of a list from one height, unverified."""

        def page(r: Message) -> tuple[Message, int]:
            answer = self.call(module, method, r)
            return answer, answer.proof.height  # type: ignore[attr-defined]

        return collect_pages(page, request, get_service(module).path(method))

    def _translate(self, error: grpc.RpcError, path: str) -> Exception:
        """A gRPC failure as an error that says what to do."""
        status = error.code()  # type: ignore[attr-defined]
        details = error.details()  # type: ignore[attr-defined]
        if status in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return QueryUnavailable(
                f"no answer from the gRPC query server at {self.address} ({path}: {status.name}: {details}); "
                "is the node running, and is this its grpc_address (config/app.toml)? Use --grpc HOST:PORT"
            )
        trailers = dict(error.trailing_metadata() or ())  # type: ignore[attr-defined]
        code = trailers.get("synod-code")
        return QueryRejected(
            f"{path} at {self.address} refused the query: {status.name}: {details}",
            status,
            int(code) if code and code.isdigit() else None,
            trailers.get("synod-codespace", ""),
        )
