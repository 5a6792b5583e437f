"""One way to read a module's state: `Querier.ask(module, method, request)`, over any transport.

Every module's queries are the rpcs of its `synod.<m>.v1.Query` service (app/modules/services.py).
A querier answers them over CometBFT's abci_query (`AbciQuerier`, unverified), over gRPC
(`app.client.grpc_query.GrpcQueryClient`, unverified) or over gRPC checked against light-client
headers (`app.client.verified.VerifiedQuerier`). The typed module clients (app/client/tasks.py, ...)
take any of them, so a worker that has a trust anchor verifies everything it downloads.

`ask_all` follows a list's pages; every page must come from one height, else the whole list is read
again (a block may commit between two pages), and after a few tries the answer is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from google.protobuf.message import Message

from app.client.rpc import CometRPC, QueryFailed, decode_base64
from app.modules.services import get_service

__all__ = [
    "AbciQuerier",
    "MixedHeights",
    "Querier",
    "QuerySource",
    "as_querier",
    "ask_list",
    "collect_pages",
    "merge_pages",
    "read_pages",
]

# Reads of a list restarted because a block committed between its pages, before giving up.
_LIST_TRIES = 4


class MixedHeights(Exception):
    """A list's pages kept coming from different heights (blocks commit faster than it is read)."""


class Querier(Protocol):
    """Answers module queries; `last_height` is the committed height of the latest answer."""

    last_height: int

    # Answers are typed Any: the response class follows from the method name at run time.
    def ask(self, module: str, method: str, request: Message) -> Any:
        """One answer (one page of a list)."""
        ...

    def ask_all(self, module: str, method: str, request: Message) -> Any:
        """Every page of a list, from one height, merged into one answer without pagination."""
        ...


def merge_pages(pages: list[Message]) -> Message:
    """One answer holding every page's items (repeated fields concatenated), no pagination or proof."""
    merged = type(pages[0])()
    for page in pages:
        merged.MergeFrom(page)
    for name in ("pagination", "proof"):
        if name in merged.DESCRIPTOR.fields_by_name:
            merged.ClearField(name)
    return merged


def collect_pages(ask_page: Callable[[Message], tuple[Message, int]], request: Message, what: str) -> Message:
    """Every page of a list from one height, merged: ask_page(request) -> (page, height)."""
    return merge_pages([page for _, page in read_pages(ask_page, request, what)])


def read_pages(
    ask_page: Callable[[Message], tuple[Message, int]], request: Message, what: str
) -> list[tuple[Message, Message]]:
    """(request, page) for every page of a list, all from one height, restarting on a mix.

    A request without pagination is asked once, as it is."""
    if "pagination" not in request.DESCRIPTOR.fields_by_name:
        return [(request, ask_page(request)[0])]
    heights: list[int] = []
    for _ in range(_LIST_TRIES):
        pages: list[tuple[Message, Message]] = []
        page_request = type(request).FromString(request.SerializeToString())
        page_request.pagination.key = b""  # type: ignore[attr-defined]
        heights = []
        while True:
            page, height = ask_page(page_request)
            pages.append((page_request, page))
            heights.append(height)
            next_key = page.pagination.next_key  # type: ignore[attr-defined]
            if not next_key or height != heights[0]:
                break
            page_request = type(request).FromString(page_request.SerializeToString())
            page_request.pagination.key = next_key  # type: ignore[attr-defined]
        if len(set(heights)) == 1:
            return pages
    raise MixedHeights(
        f"{what}: its pages came from different heights ({heights[0]} to {heights[-1]}) in {_LIST_TRIES} "
        "tries; a list answer must come from one height. Ask for larger pages or retry"
    )


class AbciQuerier:
    """Module queries through one node's CometBFT RPC (`abci_query` at the gRPC method path)."""

    def __init__(self, rpc: CometRPC) -> None:
        self.rpc = rpc
        self.last_height = 0

    def _ask(self, module: str, method: str, request: Message) -> tuple[Message, int]:
        """(answer, height); a refusal raises QueryFailed with the app's registered code and log."""
        service = get_service(module)
        path = service.path(method)
        r = self.rpc.abci_query(path, request.SerializeToString(deterministic=True))
        if int(r.get("code", 0)):
            raise QueryFailed(
                r.get("log") or f"query {path} failed with code {r['code']}",
                int(r["code"]),
                codespace=r.get("codespace", ""),
            )
        self.last_height = int(r.get("height", 0))
        return service.response_class(method).FromString(decode_base64(r.get("value"))), self.last_height

    def ask(self, module: str, method: str, request: Message) -> Any:
        """One answer (its proof holds the height and app hash, and no entries)."""
        return self._ask(module, method, request)[0]

    def ask_all(self, module: str, method: str, request: Message) -> Any:
        """Every page of a list, from one height."""
        return collect_pages(
            lambda r: self._ask(module, method, r), request, get_service(module).path(method)
        )


def ask_list(querier: Querier, module: str, method: str, request: Message, field: str) -> list[Any]:
    """Every item of a list answer's repeated `field`, over all its pages."""
    return list(getattr(querier.ask_all(module, method, request), field))


QuerySource = CometRPC | Querier


def as_querier(source: QuerySource) -> Querier:
    """A querier: a querier is used as it is, an RPC client (anything with abci_query) is read
    through abci_query."""
    if isinstance(source, CometRPC) or not hasattr(source, "ask_all"):
        return AbciQuerier(source)  # type: ignore[arg-type]
    return source
