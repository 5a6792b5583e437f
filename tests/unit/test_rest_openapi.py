"""The gateway's OpenAPI document validates, and schemathesis, run against the live in-process
gateway, finds every documented route answering with its documented statuses and schemas (never
a 5xx from the gateway itself) for generated parameters.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.client.rpc import CometRPC
from app.rest.openapi import compute_openapi
from app.rest.routes import compute_routes
from tests.unit.rest_fakes import FakeComet, Gateway, get
from tests.unit.test_query_services import learning  # noqa: F401 - the chain fixture


@pytest.fixture(scope="module")
def live(learning) -> Iterator[Gateway]:  # noqa: ANN001, F811
    """The gateway over a committee task mid-round, its txs going to a fake CometBFT."""
    comet = FakeComet()
    gateway = Gateway(learning.chain.backend, CometRPC(comet.url, timeout=5))
    yield gateway
    gateway.close()
    comet.close()


def test_the_document_validates_and_lists_every_route(live: Gateway) -> None:
    status, served, _ = get(live, "/openapi.json")
    assert status == 200
    validate(served)
    routes = compute_routes()
    assert served == compute_openapi(routes)
    assert {r.template for r in routes} | {"/cosmos/tx/v1beta1/txs", "/metrics"} <= set(served["paths"])
    balance = served["paths"]["/synod/bank/v1/balances/{address}/by_denom"]["get"]
    assert [p["name"] for p in balance["parameters"]] == ["address", "denom", "verify"]


# The document the gateway serves (the test above checks it is this one). schemathesis's lazy
# from_fixture loader does not run under pytest 9, so the schema is loaded at import and the live
# gateway's URL given per call.
schema = schemathesis.openapi.from_dict(compute_openapi(compute_routes()))


@schema.parametrize()
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_documented_route_answers_as_documented(case, live: Gateway) -> None:  # noqa: ANN001
    case.call_and_validate(
        base_url=live.url,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
