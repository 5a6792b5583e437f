"""gRPC query services over committed state, each answer carrying Merkle proofs (see README.md)."""

from app.grpc.base import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    Answer,
    InvalidQuery,
    QueryService,
    StateReader,
    compute_page_limit,
)
from app.grpc.committed import CommittedReader
from app.grpc.registry import SERVICES, get_service

__all__ = [
    "DEFAULT_PAGE_LIMIT",
    "MAX_PAGE_LIMIT",
    "SERVICES",
    "Answer",
    "CommittedReader",
    "InvalidQuery",
    "QueryService",
    "StateReader",
    "compute_page_limit",
    "get_service",
]
