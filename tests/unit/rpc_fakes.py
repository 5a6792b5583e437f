"""CometRPC stand-ins' abci_query: over a real App's ABCI handlers, or over hand-written answers.

Both return what CometBFT's RPC returns for abci_query (code, codespace, log, base64 value, height),
so the clients under test read them through the same AbciQuerier they use against a node.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from google.protobuf.message import Message

from app.client.rpc import QueryFailed
from app.core.errors import SynodError
from app.core.query import compute_page_limit
from app.modules.services import get_service, service_for_path
from app.state.kv import KVReader
from synod.base.v1 import pagination_pb2
from tendermint.abci import types_pb2 as abci

__all__ = ["StoreReader", "abci_over_handlers", "abci_over_methods", "abci_over_store", "answer_over_store"]


class StoreReader:
    """A StateReader over an in-memory store (a keeper's Branch), without proofs."""

    def __init__(self, store: KVReader, height: int = 0) -> None:
        self._store = store
        self._height = height

    @property
    def height(self) -> int:
        return self._height

    def get(self, key: bytes) -> bytes | None:
        return self._store.get(key)

    def page(
        self, prefix: bytes, page: pagination_pb2.PageRequest
    ) -> tuple[list[tuple[bytes, bytes]], pagination_pb2.PageResponse]:
        items: list[tuple[bytes, bytes]] = []
        for key, value in self._store.iterate(prefix):
            if key < prefix + page.key:
                continue
            if len(items) == compute_page_limit(page):
                return items, pagination_pb2.PageResponse(next_key=key[len(prefix) :])
            items.append((key, value))
        return items, pagination_pb2.PageResponse()


def answer_over_store(store: KVReader, module: str, method: str, request: Message, height: int = 0) -> Any:
    """A module's answer to request over an in-memory store (registered errors are raised)."""
    return get_service(module).answers[method](StoreReader(store, height), request)


def abci_over_store(store: KVReader, path: str, data: bytes, height: int = 0) -> dict[str, Any]:
    """abci_query answered by the module services over an in-memory store."""
    found = service_for_path(path)
    assert found is not None, f"unknown query path {path}"
    service, method = found
    try:
        answer = answer_over_store(
            store, service.module, method, service.request_class(method).FromString(data), height
        )
    except SynodError as e:
        return _rpc_shape(e.code, str(e), e.codespace, b"", height)
    return _rpc_shape(0, "", "", answer.SerializeToString(), height)


def _rpc_shape(code: int, log: str, codespace: str, value: bytes, height: int) -> dict[str, Any]:
    return {
        "code": code,
        "codespace": codespace,
        "log": log,
        "value": base64.b64encode(value).decode() if value else None,
        "height": str(height),
    }


def abci_over_handlers(handlers: Any, path: str, data: bytes, prove: bool = False) -> dict[str, Any]:
    """abci_query answered by an App's ABCI handlers (tests/integration harness chains)."""
    r = handlers.query(abci.RequestQuery(path=path, data=data, prove=prove))
    return _rpc_shape(r.code, r.log, r.codespace, r.value, r.height)


def abci_over_methods(fake: Any, path: str, data: bytes, height: int = 0) -> dict[str, Any]:
    """abci_query answered by `fake._<module>_<method in snake case>(data)`, which returns the response
    message or raises QueryFailed; the fake records every path in `fake.asked` if it has one."""
    found = service_for_path(path)
    assert found is not None, f"unknown query path {path}"
    service, method = found
    if hasattr(fake, "asked"):
        fake.asked.append(path)
    handler = getattr(fake, f"_{service.module}_{re.sub(r'(?<!^)(?=[A-Z])', '_', method).lower()}")
    try:
        answer = handler(data)
    except QueryFailed as e:
        return _rpc_shape(e.code or 1, str(e), e.codespace, b"", height)
    return _rpc_shape(0, "", "", answer.SerializeToString(), height)
