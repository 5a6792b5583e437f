"""The gateway's errors: every failure is JSON `{"code", "codespace", "message"}` with an HTTP status.

Query refusals keep the registered code the answer raised (the same one gRPC sends in its
`synod-codespace`/`synod-code` trailers and ABCI Query in its result). The gateway registers its own
codes, in codespace `rest`, only for what lies outside the chain: the CometBFT RPC it forwards txs
to. Codes are stable; never renumber them.
"""

from __future__ import annotations

import logging
from typing import Any

from app.core.errors import (
    UNKNOWN_CODE,
    ErrInvalidRequest,
    ErrNotInitialized,
    ErrorCode,
    ErrUnknownRequest,
    SynodError,
    register,
)
from app.core.query import InvalidQuery
from app.grpc.answering import NotCommitted

__all__ = [
    "ErrRpcUnavailable",
    "ErrRpcFailed",
    "RestError",
    "compute_error",
    "error_body",
]

log = logging.getLogger("synod.rest")

CODESPACE = "rest"
ErrRpcUnavailable = register(CODESPACE, 2, "CometBFT RPC unavailable")
ErrRpcFailed = register(CODESPACE, 3, "CometBFT RPC failed")


class RestError(Exception):
    """A refusal with its HTTP status and registered error."""

    def __init__(self, status: int, error: ErrorCode, detail: str) -> None:
        super().__init__(f"{detail}: {error.description}")
        self.status = status
        self.error = error


def error_body(code: int, codespace: str, message: str) -> dict[str, Any]:
    """The JSON body of every error answer."""
    return {"code": code, "codespace": codespace, "message": message}


def compute_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of a failure: 400 for a bad request, 404 for a record that does not
    exist, 503 before the first block; anything else is a bug, logged, and answered 500 without a
    traceback."""
    if isinstance(exc, RestError):
        return exc.status, error_body(exc.error.code, exc.error.codespace, str(exc))
    if isinstance(exc, NotCommitted):
        return 503, error_body(ErrNotInitialized.code, ErrNotInitialized.codespace, str(exc))
    if isinstance(exc, InvalidQuery):
        return 400, error_body(exc.code, exc.codespace, str(exc))
    if isinstance(exc, SynodError):
        # Answers raise registered errors only for records that do not exist (yet), as over gRPC.
        return 404, error_body(exc.code, exc.codespace, str(exc))
    log.error("REST request failed", exc_info=exc)
    return 500, error_body(UNKNOWN_CODE, "undefined", f"internal error: {type(exc).__name__}")


def compute_http_error(status: int, detail: str) -> dict[str, Any]:
    """The body for a refusal of the HTTP layer itself (no route, wrong method)."""
    error = ErrUnknownRequest if status in (404, 405) else ErrInvalidRequest
    return error_body(error.code, error.codespace, f"{detail}: {error.description}")
