"""ABCI Query over committed state: `/store` (a raw key with its Merkle proof) and every module's
query service at its gRPC method path (`/synod.bank.v1.Query/Balance`).

A service path runs the very answer function gRPC runs (app/modules/<m>/query_server.py) over
committed state; with `prove` its StateProof holds a proof of every entry the answer read. Only the
latest committed height is served (the store keeps no value history). The ABCI server answers
queries off its event loop (pin_query), as the gRPC server does.
"""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import DecodeError

from app.core.errors import ErrInvalidRequest, ErrUnknownRequest, SynodError
from app.modules.services import SERVICES, service_for_path
from app.state.proving import CommittedReader
from app.state.store import CommitStore
from tendermint.abci import types_pb2 as abci
from tendermint.crypto import proof_pb2

__all__ = ["PROOF_OP_TYPE", "answer_query", "pin_query", "query_paths"]

# ProofOp.type of our sparse Merkle proofs (app/state/smt.py encoding) on `/store` answers.
PROOF_OP_TYPE = "synod/smt"


def query_paths() -> list[str]:
    """Every path ABCI Query answers (for error messages and docs)."""
    return ["/store", *sorted(s.path(m) for s in SERVICES for m in s.answers)]


def answer_query(store: CommitStore, req: abci.RequestQuery) -> abci.ResponseQuery:
    """Answer one query now (pin the committed state, then answer from it)."""
    return pin_query(store, req)()


def pin_query(store: CommitStore, req: abci.RequestQuery) -> Callable[[], abci.ResponseQuery]:
    """Pin committed state now; return the work that answers from it, safe to run in another thread.

    The ABCI server pins under its app lock, between blocks, and answers in a worker thread, so a
    query never sees a block being executed and never holds the consensus connection up while it
    reads and proves a page (DESIGN.md section 12). Errors become registered codes, never exceptions.
    """
    if req.height not in (0, store.height):
        err = ErrInvalidRequest.wrap(
            f"state at height {req.height} is not served: this node answers for the latest committed "
            f"height {store.height} (pass height 0)"
        )
        failed = _failure(err, store.height)
        return lambda: failed
    reader = CommittedReader.open(store.backend, prove=req.prove)
    return lambda: _answer_and_close(reader, req)


def _failure(err: SynodError, height: int) -> abci.ResponseQuery:
    return abci.ResponseQuery(code=err.code, codespace=err.codespace, log=str(err), height=height)


def _answer_and_close(reader: CommittedReader, req: abci.RequestQuery) -> abci.ResponseQuery:
    """Answer from the pinned state, then release it (in the thread that answered)."""
    try:
        if req.path == "/store":
            return _store(reader, req)
        return _service(reader, req)
    except SynodError as e:
        return _failure(e, reader.height)
    finally:
        reader.close()


def _store(reader: CommittedReader, req: abci.RequestQuery) -> abci.ResponseQuery:
    """Raw state key -> value, with a proof when asked."""
    if not req.data:
        raise ErrInvalidRequest.wrap("/store needs the raw state key as data")
    value = reader.get(req.data)
    resp = abci.ResponseQuery(key=req.data, value=value or b"", height=reader.height)
    if req.prove:
        (entry,) = reader.state_proof().entries
        resp.proof_ops.ops.append(proof_pb2.ProofOp(type=PROOF_OP_TYPE, key=req.data, data=entry.proof))
    return resp


def _service(reader: CommittedReader, req: abci.RequestQuery) -> abci.ResponseQuery:
    """A module query: the request message as data, the response message as value."""
    found = service_for_path(req.path)
    if found is None:
        raise ErrUnknownRequest.wrap(
            f"unknown query path {req.path!r}: paths are /store and /<service>/<Method>, e.g. "
            "/synod.bank.v1.Query/Balance (`grpcurl -plaintext NODE:9090 list` shows the services)"
        )
    service, method = found
    try:
        request = service.request_class(method).FromString(req.data)
    except DecodeError as e:
        raise ErrInvalidRequest.wrap(
            f"query data is not a {service.request_class(method).__name__}: {e}"
        ) from None
    response = reader.answer(service.answers[method], request)
    return abci.ResponseQuery(value=response.SerializeToString(deterministic=True), height=reader.height)
