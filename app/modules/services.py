"""The query services the node serves and the verifying client knows: one entry per module.

Adding a module's service (see app/grpc/README.md): declare `service Query` in
proto/synod/<module>/v1/query.proto with a `synod.base.v1.StateProof proof` field in every response,
write app/modules/<module>/query_server.py with one answer function per method and its `SERVICE`,
and list it here.
"""

from __future__ import annotations

from app.core.query import QueryService
from app.modules.auth import query_server as auth
from app.modules.bank import query_server as bank
from app.modules.committee import query_server as committee
from app.modules.consensus import query_server as consensus
from app.modules.slashing import query_server as slashing
from app.modules.staking import query_server as staking
from app.modules.tasks import query_server as tasks

__all__ = ["SERVICES", "get_service", "service_for_path"]

SERVICES: tuple[QueryService, ...] = (
    auth.SERVICE,
    bank.SERVICE,
    staking.SERVICE,
    slashing.SERVICE,
    tasks.SERVICE,
    committee.SERVICE,
    consensus.SERVICE,
)

_BY_MODULE = {s.module: s for s in SERVICES}
_BY_NAME = {s.name: s for s in SERVICES}
if len(_BY_MODULE) != len(SERVICES) or len(_BY_NAME) != len(SERVICES):
    raise RuntimeError("two query services claim the same module or service name")


def get_service(module: str) -> QueryService:
    """The service of a module, by its name (auth, bank, ...)."""
    try:
        return _BY_MODULE[module]
    except KeyError:
        raise KeyError(f"no query service for module {module!r}; known: {sorted(_BY_MODULE)}") from None


def service_for_path(path: str) -> tuple[QueryService, str] | None:
    """(service, method) of a gRPC method path such as /synod.bank.v1.Query/Balance, or None."""
    service_name, _, method = path.lstrip("/").partition("/")
    service = _BY_NAME.get(service_name)
    if service is None or method not in service.answers:
        return None
    return service, method
