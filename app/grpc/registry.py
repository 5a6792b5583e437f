"""The query services the node serves and the verifying client knows: one entry per module.

Adding a module's service (see README.md in this folder): declare `service Query` in
proto/synod/<module>/v1/query.proto with a `synod.base.v1.StateProof proof` field in every response,
write app/grpc/<module>.py with one answer function per method and its `SERVICE`, and list it here.
"""

from __future__ import annotations

from app.grpc import auth, bank, slashing, staking
from app.grpc.base import QueryService

__all__ = ["SERVICES", "get_service"]

SERVICES: tuple[QueryService, ...] = (auth.SERVICE, bank.SERVICE, staking.SERVICE, slashing.SERVICE)

_BY_MODULE = {s.module: s for s in SERVICES}
if len(_BY_MODULE) != len(SERVICES):
    raise RuntimeError("two query services claim the same module name")


def get_service(module: str) -> QueryService:
    """The service of a module, by its name (auth, bank, ...)."""
    try:
        return _BY_MODULE[module]
    except KeyError:
        raise KeyError(f"no query service for module {module!r}; known: {sorted(_BY_MODULE)}") from None
