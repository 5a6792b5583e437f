"""The gRPC query server: every module's query service over committed state, with proofs (README.md)."""

from app.grpc.server import GrpcBindError, QueryServer

__all__ = ["GrpcBindError", "QueryServer"]
