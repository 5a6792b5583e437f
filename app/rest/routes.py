"""The REST route of every query rpc, in one table, and how a route's URL becomes the rpc's request.

Paths follow the Cosmos SDK's gateway convention, `/synod/<module>/v1/<resource>/{field}`: a `{field}`
of the template fills the request field of that name; any other top-level scalar field comes from
the query string (`?denom=`), and a PageRequest from `?pagination.key=` (base64, the opaque
next_key of the previous page) and `?pagination.limit=`. `?verify=true` asks for the proof.

tests/unit/test_rest.py fails if an rpc of any registered service has no route here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from app.core.query import InvalidQuery, QueryService
from app.modules.services import SERVICES

__all__ = ["ROUTES", "Route", "compute_routes", "parse_request", "VERIFY_PARAM"]

VERIFY_PARAM = "verify"

# "<service full name>/<Method>" -> path template. The only place a route is defined.
ROUTES: dict[str, str] = {
    "synod.auth.v1.Query/Account": "/synod/auth/v1/accounts/{address}",
    "synod.auth.v1.Query/Accounts": "/synod/auth/v1/accounts",
    "synod.auth.v1.Query/Params": "/synod/auth/v1/params",
    "synod.bank.v1.Query/Balance": "/synod/bank/v1/balances/{address}/by_denom",
    "synod.bank.v1.Query/AllBalances": "/synod/bank/v1/balances/{address}",
    "synod.bank.v1.Query/SupplyOf": "/synod/bank/v1/supply/by_denom",
    "synod.bank.v1.Query/Supply": "/synod/bank/v1/supply",
    "synod.bank.v1.Query/Params": "/synod/bank/v1/params",
    "synod.staking.v1.Query/Validators": "/synod/staking/v1/validators",
    "synod.staking.v1.Query/Validator": "/synod/staking/v1/validators/{operator_address}",
    "synod.staking.v1.Query/Delegations": "/synod/staking/v1/delegations/{delegator_address}",
    "synod.staking.v1.Query/Unbonding": "/synod/staking/v1/unbonding",
    "synod.staking.v1.Query/Params": "/synod/staking/v1/params",
    "synod.slashing.v1.Query/SigningInfo": "/synod/slashing/v1/signing_infos/{consensus_address}",
    "synod.slashing.v1.Query/SigningInfos": "/synod/slashing/v1/signing_infos",
    "synod.slashing.v1.Query/Evidence": "/synod/slashing/v1/evidence",
    "synod.slashing.v1.Query/Params": "/synod/slashing/v1/params",
    "synod.tasks.v1.Query/Task": "/synod/tasks/v1/tasks/{task_id}",
    "synod.tasks.v1.Query/Tasks": "/synod/tasks/v1/tasks",
    "synod.tasks.v1.Query/Rounds": "/synod/tasks/v1/tasks/{task_id}/rounds",
    "synod.tasks.v1.Query/Model": "/synod/tasks/v1/tasks/{task_id}/rounds/{round}/model",
    "synod.tasks.v1.Query/Participants": "/synod/tasks/v1/tasks/{task_id}/participants",
    "synod.tasks.v1.Query/Commitments": "/synod/tasks/v1/tasks/{task_id}/rounds/{round}/commitments",
    "synod.tasks.v1.Query/Reveals": "/synod/tasks/v1/tasks/{task_id}/rounds/{round}/reveals",
    "synod.tasks.v1.Query/Update": "/synod/tasks/v1/tasks/{task_id}/rounds/{round}/updates/{worker}",
    "synod.tasks.v1.Query/Trace": "/synod/tasks/v1/tasks/{task_id}/rounds/{round}/traces/{worker}",
    "synod.tasks.v1.Query/Params": "/synod/tasks/v1/params",
    "synod.committee.v1.Query/Params": "/synod/committee/v1/params",
    "synod.committee.v1.Query/Members": "/synod/committee/v1/members",
    "synod.committee.v1.Query/Committee": "/synod/committee/v1/committees/{task_id}/{round}",
    "synod.committee.v1.Query/Scores": "/synod/committee/v1/scores/{task_id}/{round}",
    "synod.committee.v1.Query/Reputation": "/synod/committee/v1/reputations/{address}",
    "synod.committee.v1.Query/Seed": "/synod/committee/v1/seed",
    "synod.committee.v1.Query/Dkg": "/synod/committee/v1/dkg",
    "synod.committee.v1.Query/Dealings": "/synod/committee/v1/dkg/{dkg_id}/dealings",
    "synod.committee.v1.Query/EpochSeed": "/synod/committee/v1/epoch_seeds/{epoch}",
    "synod.consensus.v1.Query/Params": "/synod/consensus/v1/params",
    "synod.consensus.v1.Query/Query": "/synod/consensus/v1/queries/{query_id}",
    "synod.consensus.v1.Query/Queries": "/synod/consensus/v1/queries",
    "synod.consensus.v1.Query/Answer": "/synod/consensus/v1/queries/{query_id}/answer",
    "synod.consensus.v1.Query/Participants": "/synod/consensus/v1/queries/{query_id}/participants",
    "synod.consensus.v1.Query/Round": "/synod/consensus/v1/queries/{query_id}/rounds/{round}",
    "synod.consensus.v1.Query/Peers": (
        "/synod/consensus/v1/queries/{query_id}/rounds/{round}/peers/{participant}"
    ),
    "synod.consensus.v1.Query/Models": "/synod/consensus/v1/models",
    "synod.consensus.v1.Query/Pending": "/synod/consensus/v1/pending",
    "synod.consensus.v1.Query/Reputation": "/synod/consensus/v1/reputations/{address}",
}

_PARAM_RE = re.compile(r"\{([a-z_]+)\}")
# Standard or URL-safe base64 (the protobuf parser would skip stray characters: refuse them here).
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")
_PAGE_FIELDS = ("key", "limit")


@dataclass(frozen=True)
class Route:
    """One rpc's REST route: GET template, the rpc it answers, its path and query fields."""

    template: str
    service: QueryService
    method: str
    path_fields: tuple[str, ...]
    query_fields: tuple[str, ...]

    @property
    def request_descriptor(self) -> Descriptor:
        """The rpc's request message descriptor."""
        return self.service.descriptor.methods_by_name[self.method].input_type

    @property
    def rpc(self) -> str:
        """The rpc's name in the table, e.g. synod.bank.v1.Query/Balance."""
        return f"{self.service.name}/{self.method}"


def _query_fields(request: Descriptor, path_fields: tuple[str, ...]) -> tuple[str, ...]:
    """The request's query-string parameters: scalar fields not in the path, then pagination's."""
    names: list[str] = []
    for field in request.fields:
        if field.name in path_fields:
            continue
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.name != "pagination":
                raise TypeError(f"{request.full_name}.{field.name}: only PageRequest nests in a REST query")
            names += [f"pagination.{f}" for f in _PAGE_FIELDS]
        elif field.is_repeated:
            raise TypeError(f"{request.full_name}.{field.name}: a repeated field has no REST form")
        else:
            names.append(field.name)
    return tuple(names)


def compute_routes(services: tuple[QueryService, ...] = SERVICES) -> list[Route]:
    """Every rpc's route; TypeError names an rpc without one, a route without an rpc, or a template
    field the request lacks."""
    rpcs = {f"{s.name}/{m}": (s, m) for s in services for m in s.answers}
    missing, extra = sorted(set(rpcs) - set(ROUTES)), sorted(set(ROUTES) - set(rpcs))
    if missing or extra:
        raise TypeError(f"REST routes: rpcs without a route {missing}, routes without an rpc {extra}")
    routes = []
    for rpc, (service, method) in rpcs.items():
        template = ROUTES[rpc]
        request = service.descriptor.methods_by_name[method].input_type
        path_fields = tuple(_PARAM_RE.findall(template))
        for name in path_fields:
            field = request.fields_by_name.get(name)
            if field is None or field.type == FieldDescriptor.TYPE_MESSAGE or field.is_repeated:
                raise TypeError(f"{template}: {{{name}}} is not a scalar field of {request.full_name}")
        routes.append(Route(template, service, method, path_fields, _query_fields(request, path_fields)))
    return routes


def parse_request(route: Route, path: Mapping[str, str], query: Mapping[str, str]) -> Message:
    """The rpc's request from a URL's path parameters and query string (proto3 JSON rules for
    each value: 64-bit integers as decimal text, bytes as base64); InvalidQuery for anything else."""
    unknown = sorted(set(query) - set(route.query_fields) - {VERIFY_PARAM})
    if unknown:
        raise InvalidQuery(
            f"unknown query parameters {unknown}: {route.template} takes {list(route.query_fields)} "
            f"and {VERIFY_PARAM}"
        )
    fields: dict[str, Any] = dict(path)
    for name, value in query.items():
        if name == VERIFY_PARAM:
            continue
        head, _, tail = name.partition(".")
        if name == "pagination.key" and not _BASE64_RE.match(value):
            raise InvalidQuery(f"pagination.key {value!r} is not base64 (pass the previous page's next_key)")
        if tail:
            fields.setdefault(head, {})[tail] = value
        else:
            fields[name] = value
    request = route.service.request_class(route.method)()
    try:
        json_format.ParseDict(fields, request)
    except json_format.ParseError as e:
        raise InvalidQuery(f"{route.template}: {e}") from None
    return request


def is_verify(query: Mapping[str, str]) -> bool:
    """True if the query string asks for the proof (`verify=true`); InvalidQuery for other values."""
    value = query.get(VERIFY_PARAM, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise InvalidQuery(f"{VERIFY_PARAM} must be true or false, not {value!r}")
    return value in ("true", "1")
