"""Registered errors: each has a codespace (module name) and a stable code, never renumbered.

A handler raises `ErrX.wrap("detail")`; the ABCI layer turns it into a non-zero result code, the
codespace and a log line a person can act on. Codes are part of the chain's public contract.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ErrorCode",
    "SynodError",
    "register",
    "registered",
    "UNKNOWN_CODE",
    "ErrTxDecode",
    "ErrInvalidSequence",
    "ErrUnauthorized",
    "ErrInsufficientFunds",
    "ErrUnknownRequest",
    "ErrInvalidAddress",
    "ErrInvalidPubKey",
    "ErrInvalidCoins",
    "ErrOutOfGas",
    "ErrMemoTooLarge",
    "ErrInsufficientFee",
    "ErrInvalidRequest",
    "ErrTxTooLarge",
    "ErrTxTimeoutHeight",
    "ErrUnknownMessage",
    "ErrInvalidGasLimit",
    "ErrNotFound",
    "ErrNotInitialized",
]

# Code 1 is reserved for an unexpected failure inside a handler (a bug, not bad input).
UNKNOWN_CODE = 1

_REGISTRY: dict[tuple[str, int], ErrorCode] = {}


class SynodError(Exception):
    """A failure with a registered (codespace, code) and a human-readable message."""

    def __init__(self, error: ErrorCode, detail: str = "") -> None:
        self.error = error
        self.detail = detail
        super().__init__(f"{detail}: {error.description}" if detail else error.description)

    @property
    def codespace(self) -> str:
        """The module that registered the error."""
        return self.error.codespace

    @property
    def code(self) -> int:
        """The stable numeric code."""
        return self.error.code


@dataclass(frozen=True)
class ErrorCode:
    """A registered error: raise `err.wrap(detail)`."""

    codespace: str
    code: int
    description: str

    def wrap(self, detail: str = "") -> SynodError:
        """An exception carrying this code and a detail message."""
        return SynodError(self, detail)

    def is_(self, exc: BaseException) -> bool:
        """True if `exc` carries this error code."""
        return isinstance(exc, SynodError) and exc.error == self


def register(codespace: str, code: int, description: str) -> ErrorCode:
    """Register an error; codes below 2 and duplicates are rejected at import time."""
    if code < 2:
        raise ValueError(f"{codespace}: code {code} is reserved (codes start at 2)")
    if (codespace, code) in _REGISTRY:
        raise ValueError(f"{codespace}: code {code} registered twice")
    err = ErrorCode(codespace, code, description)
    _REGISTRY[(codespace, code)] = err
    return err


def registered() -> dict[tuple[str, int], ErrorCode]:
    """Every registered error, for documentation and tests."""
    return dict(_REGISTRY)


_SDK = "sdk"
ErrTxDecode = register(_SDK, 2, "tx parse error")
ErrInvalidSequence = register(_SDK, 3, "invalid sequence")
ErrUnauthorized = register(_SDK, 4, "unauthorized")
ErrInsufficientFunds = register(_SDK, 5, "insufficient funds")
ErrUnknownRequest = register(_SDK, 6, "unknown request")
ErrInvalidAddress = register(_SDK, 7, "invalid address")
ErrInvalidPubKey = register(_SDK, 8, "invalid pubkey")
ErrInvalidCoins = register(_SDK, 10, "invalid coins")
ErrOutOfGas = register(_SDK, 11, "out of gas")
ErrMemoTooLarge = register(_SDK, 12, "memo too large")
ErrInsufficientFee = register(_SDK, 13, "insufficient fee")
ErrInvalidRequest = register(_SDK, 18, "invalid request")
ErrTxTooLarge = register(_SDK, 21, "tx too large")
ErrTxTimeoutHeight = register(_SDK, 30, "tx timeout height")
ErrUnknownMessage = register(_SDK, 33, "unknown message type")
ErrInvalidGasLimit = register(_SDK, 41, "invalid gas limit")
ErrNotFound = register(_SDK, 38, "not found")

# The App's own (app/app.py), not a Cosmos SDK code.
_APP = "app"
ErrNotInitialized = register(_APP, 2, "chain not initialized")
