"""Fuzz target `query`: ABCI Query with fuzzed path, data, height and prove, and the canonical parser.

Query: a path ABCI answers (or a fuzzed one) and its request message with fields edited (addresses,
ids and pagination keys and limits from the shared chain's state) or raw bytes, at height 0, the
committed height or another. Invariants: answer_query never raises; every answer has code 0 or a
registered code; a `/store` answer's value is the committed value and a module answer's value parses
as that method's response.

Parser: decode_tx over fuzzed bytes and parse_canonical over a message class of the chain's routes.
Invariants: a registered error or a result whose canonical encoding is exactly the input.
"""

from __future__ import annotations

import functools

import atheris

from app.abci.query import answer_query, query_paths
from app.core.errors import SynodError, registered
from app.core.tx import decode_tx, encode_tx, parse_canonical
from app.modules.services import service_for_path
from tendermint.abci import types_pb2 as abci
from tests.fuzz.chain import DENOM, USERS, VALIDATORS, get_chain
from tests.fuzz.protofill import mutate
from tests.integration.harness import test_key
from tests.integration.staking_harness import cons_address

__all__ = ["test_one_input"]

_PATHS = query_paths()
_REGISTERED = set(registered())
_WORDS = [*(test_key(n).address for n in (*USERS, *VALIDATORS)), DENOM, "", "1", "/store"]


@functools.cache
def _blobs() -> list[bytes]:
    """Byte values worth planting: consensus addresses and raw state keys."""
    keys = [k for k, _ in get_chain().app.store.view.iterate(b"")]
    return [*(cons_address(n) for n in VALIDATORS), *keys[:: max(1, len(keys) // 16)], b"\xff" * 8]


def _request(fdp: atheris.FuzzedDataProvider) -> abci.RequestQuery:
    """A fuzzed query request."""
    store = get_chain().app.store
    path = fdp.PickValueInList(_PATHS) if fdp.ConsumeIntInRange(0, 15) else fdp.ConsumeUnicodeNoSurrogates(40)
    found = service_for_path(path)
    if path == "/store" or found is None or fdp.ConsumeIntInRange(0, 7) == 7:
        data = fdp.PickValueInList(_blobs()) if fdp.ConsumeBool() else fdp.ConsumeBytes(64)
    else:
        service, method = found
        request = mutate(fdp, service.request_class(method)(), _WORDS, _blobs(), max_edits=6)
        data = request.SerializeToString(deterministic=True)
    height = (0, store.height, fdp.ConsumeIntInRange(-(2**63), 2**63 - 1))[fdp.ConsumeIntInRange(0, 2)]
    return abci.RequestQuery(path=path, data=data, height=height, prove=fdp.ConsumeBool())


def _check_query(fdp: atheris.FuzzedDataProvider) -> None:
    """One query against committed state."""
    store = get_chain().app.store
    req = _request(fdp)
    resp = answer_query(store, req)
    if resp.code:
        assert (resp.codespace, resp.code) in _REGISTERED, f"unregistered code {resp.codespace}/{resp.code}"
        return
    if req.path == "/store":
        assert resp.value == (store.view.get(req.data) or b""), "/store answered another value"
        return
    found = service_for_path(req.path)
    assert found is not None, f"code 0 for the unknown path {req.path!r}"
    service, method = found
    service.response_class(method).FromString(resp.value)


def _check_parse(fdp: atheris.FuzzedDataProvider) -> None:
    """decode_tx or parse_canonical of fuzzed bytes: an error, or exactly the input re-encoded."""
    routes = get_chain().app.routes
    urls = sorted(routes)
    pick = fdp.ConsumeIntInRange(0, len(urls))
    raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 1024))
    try:
        if pick == len(urls):
            tx = decode_tx(raw)
            assert encode_tx(tx.body_bytes, tx.auth_info_bytes, tx.signature) == raw, (
                "decode_tx accepted a re-encoding"
            )
        else:
            msg = parse_canonical(routes[urls[pick]].cls, raw, "fuzz")
            assert msg.SerializeToString(deterministic=True) == raw, "parse_canonical accepted a re-encoding"
    except SynodError as e:
        assert (e.codespace, e.code) in _REGISTERED


def test_one_input(data: bytes) -> None:
    """A query or a parse."""
    fdp = atheris.FuzzedDataProvider(data)
    (_check_query if fdp.ConsumeIntInRange(0, 2) else _check_parse)(fdp)
