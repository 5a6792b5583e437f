"""What every query service is made of: a state reader, answer functions, and the service record.

An *answer* is a pure function `(StateReader, request) -> response` that reads raw state keys (built
with the module's keys.py) and decodes them; each module's `query_server.py` holds its answers. The
node runs them over committed state, recording a proof for every key read (app/state/proving.py),
and serves them over gRPC and ABCI Query alike; a verifying client runs the *same* function over
the entries it has verified (app/client/verified), so the keys it checks are ones it computed itself
and every field of the answer is re-derived from proven bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from app.core.coins import DENOM_RE
from app.core.crypto import ADDRESS_LEN, AddressError, decode_address
from app.core.errors import ErrInvalidAddress, ErrInvalidRequest, ErrorCode, SynodError
from synod.base.v1 import pagination_pb2, proof_pb2

__all__ = [
    "DEFAULT_PAGE_LIMIT",
    "MAX_MESSAGE_BYTES",
    "MAX_PAGE_LIMIT",
    "Answer",
    "InvalidQuery",
    "QueryService",
    "StateReader",
    "compute_page_limit",
    "read_message",
    "require_message",
    "parse_address",
    "parse_consensus_address",
    "parse_denom",
]

# An answer carries its values twice (fields and proven entries): a checkpoint of the largest model
# the tasks params allow, with its proof, must fit. The server and every client use this limit.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

DEFAULT_PAGE_LIMIT = 100
# Caps the proofs one answer computes (each costs O(log n) node reads on the consensus loop's host).
MAX_PAGE_LIMIT = 1000


class InvalidQuery(SynodError):
    """The request itself is malformed (bad address, denom or page key): gRPC INVALID_ARGUMENT, and
    over ABCI its registered code (sdk 7 for an address, else sdk 18)."""

    def __init__(self, detail: str, error: ErrorCode = ErrInvalidRequest) -> None:
        super().__init__(error, detail)


class StateReader(Protocol):
    """Reads full state keys (module prefix + table + key) of one committed height."""

    @property
    def height(self) -> int:
        """The committed height read (an answer about "the next block" uses height + 1)."""
        ...

    def get(self, key: bytes) -> bytes | None:
        """The value under key, or None if absent."""
        ...

    def page(
        self, prefix: bytes, page: pagination_pb2.PageRequest
    ) -> tuple[list[tuple[bytes, bytes]], pagination_pb2.PageResponse]:
        """(key, value) pairs under prefix from page.key on, at most the page limit, in key order."""
        ...


Answer = Callable[[StateReader, Any], Message]


def compute_page_limit(page: pagination_pb2.PageRequest) -> int:
    """The number of items a page holds: the asked limit, the default for 0, capped."""
    return min(page.limit or DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)


M = TypeVar("M", bound=Message)


def read_message(state: StateReader, key: bytes, cls: type[M]) -> M | None:
    """The message stored under a full state key, or None if absent."""
    raw = state.get(key)
    return None if raw is None else cls.FromString(raw)


def require_message(state: StateReader, key: bytes, cls: type[M], missing: ErrorCode, what: str) -> M:
    """The message under key; absent raises `missing` wrapped with `what` (a registered, coded error)."""
    found = read_message(state, key, cls)
    if found is None:
        raise missing.wrap(what)
    return found


def parse_address(text: str, field: str) -> bytes:
    """The 20 raw bytes of a bech32 address field."""
    try:
        return decode_address(text)
    except AddressError as e:
        raise InvalidQuery(f"{field}: {e}", ErrInvalidAddress) from None


def parse_consensus_address(text: str) -> bytes:
    """A CometBFT validator address: 20 bytes as hex."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != ADDRESS_LEN:
        raise InvalidQuery(f"consensus_address {text!r} is not {ADDRESS_LEN} bytes of hex")
    return raw


def parse_denom(text: str) -> str:
    """A denomination as the bank module accepts it."""
    if not DENOM_RE.match(text):
        raise InvalidQuery(f"denom {text!r} is not 3-128 of [a-z0-9/] starting with a letter")
    return text


def _is_list(message: Any) -> bool:
    """True if a message has a repeated top-level field."""
    return any(f.is_repeated for f in message.fields)


def _is_paged(method: Any) -> bool:
    """True if a method takes a PageRequest and answers with a PageResponse, both named pagination."""
    asked = method.input_type.fields_by_name.get("pagination")
    answered = method.output_type.fields_by_name.get("pagination")
    return (
        asked is not None
        and answered is not None
        and asked.message_type is pagination_pb2.PageRequest.DESCRIPTOR
        and answered.message_type is pagination_pb2.PageResponse.DESCRIPTOR
    )


def _message_class(descriptor: Any) -> type[Message]:
    """The generated class of a message descriptor."""
    return message_factory.GetMessageClass(descriptor)


@dataclass(frozen=True)
class QueryService:
    """One module's gRPC Query service: its proto service and one answer function per method."""

    module: str
    descriptor: ServiceDescriptor
    answers: Mapping[str, Answer]
    # Methods whose top-level list a parameter bounds (the reason belongs beside the service).
    bounded_lists: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        """Fail at import if the answers and the proto service disagree, an answer cannot carry a proof,
        or a method returns an unbounded list without pagination."""
        methods = set(self.descriptor.methods_by_name)
        if methods != set(self.answers):
            raise TypeError(f"{self.name}: methods {sorted(methods)} but answers for {sorted(self.answers)}")
        for name, method in self.descriptor.methods_by_name.items():
            proof = method.output_type.fields_by_name.get("proof")
            if proof is None or proof.message_type is not proof_pb2.StateProof.DESCRIPTOR:
                raise TypeError(f"{self.name}/{name}: the response needs `synod.base.v1.StateProof proof`")
            if name not in self.bounded_lists and _is_list(method.output_type) and not _is_paged(method):
                raise TypeError(
                    f"{self.name}/{name} returns a list: it needs `PageRequest pagination` in its request "
                    "and `PageResponse pagination` in its response"
                )

    @property
    def name(self) -> str:
        """The full service name, e.g. synod.bank.v1.Query."""
        return self.descriptor.full_name

    def request_class(self, method: str) -> type[Message]:
        """The request message class of a method."""
        return _message_class(self.descriptor.methods_by_name[method].input_type)

    def response_class(self, method: str) -> type[Message]:
        """The response message class of a method."""
        return _message_class(self.descriptor.methods_by_name[method].output_type)

    def path(self, method: str) -> str:
        """The gRPC method path, e.g. /synod.bank.v1.Query/Balance."""
        return f"/{self.name}/{method}"
