"""The gateway's OpenAPI 3 document, generated from the route table and the proto descriptors.

Each query route documents its path and query parameters (from the request message) and its
answer's schema (the response message in the proto3 JSON mapping: 64-bit integers and bytes as
strings, enums by name), with the errors it may give; the tx routes and /metrics are added by hand.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from app.rest.routes import VERIFY_PARAM, Route
from app.rest.txs import BROADCAST_PATH, TX_PATH

__all__ = ["compute_openapi"]

_F = FieldDescriptor
_INT32 = (_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32)
_UINT32 = (_F.TYPE_UINT32, _F.TYPE_FIXED32)
_INT64 = (_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64)
_UINT64 = (_F.TYPE_UINT64, _F.TYPE_FIXED64)
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_ERRORS = {
    "400": "invalid request (a malformed address, denom, number or page key)",
    "404": "no such record",
    "503": "the node has not committed a block yet",
}


def _scalar_schema(field: FieldDescriptor) -> dict[str, Any]:
    """The JSON schema of a scalar field's value in the proto3 JSON mapping."""
    if field.type in _INT32:
        return {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
    if field.type in _UINT32:
        return {"type": "integer", "format": "uint32", "minimum": 0, "maximum": 2**32 - 1}
    if field.type in _INT64:
        return {"type": "string", "format": "int64", "pattern": "^-?[0-9]{1,19}$"}
    if field.type in _UINT64:
        return {"type": "string", "format": "uint64", "pattern": "^[0-9]{1,20}$"}
    if field.type == _F.TYPE_BOOL:
        return {"type": "boolean"}
    if field.type in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return {"type": "number"}
    if field.type == _F.TYPE_BYTES:
        return {"type": "string", "format": "byte"}
    if field.type == _F.TYPE_ENUM:
        return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    return {"type": "string"}


def _field_schema(field: FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    """A field's schema; nested messages become components (added to schemas)."""
    if field.type == _F.TYPE_MESSAGE:
        if field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": _field_schema(value, schemas)}
        item: dict[str, Any] = {"$ref": _message_ref(field.message_type, schemas)}
    else:
        item = _scalar_schema(field)
    return {"type": "array", "items": item} if field.is_repeated else item


def _message_ref(message: Descriptor, schemas: dict[str, Any]) -> str:
    """The $ref of a message's component, generating it (and those it refers to) once."""
    name = message.full_name
    if name not in schemas:
        schemas[name] = {}  # placed first: a recursive message refers to itself
        schemas[name] = {
            "type": "object",
            "properties": {f.name: _field_schema(f, schemas) for f in message.fields},
        }
    return f"#/components/schemas/{name}"


def _parameters(route: Route) -> list[dict[str, Any]]:
    """The route's path and query parameters, from its request message."""
    request = route.request_descriptor
    params: list[dict[str, Any]] = []
    for name in route.path_fields:
        schema = _scalar_schema(request.fields_by_name[name])
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name in route.query_fields:
        if name == "pagination.key":
            schema = {"type": "string", "format": "byte", "description": "next_key of the previous page"}
        elif name == "pagination.limit":
            schema = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1, "description": "at most 1000"}
        else:
            schema = _scalar_schema(request.fields_by_name[name])
        params.append({"name": name, "in": "query", "required": False, "schema": schema})
    params.append(
        {
            "name": VERIFY_PARAM,
            "in": "query",
            "required": False,
            "schema": {"type": "boolean"},
            "description": "return the StateProof of every entry the answer was read from",
        }
    )
    return params


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A JSON response object."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: str) -> dict[str, Any]:
    """The documented error answers."""
    return {s: _json(_ERROR_REF, _ERRORS.get(s, "refused")) for s in statuses}


def _query_operation(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    """The GET operation of one rpc."""
    method = route.service.descriptor.methods_by_name[route.method]
    return {
        "operationId": f"{route.service.module}.{route.method}",
        "tags": [route.service.module],
        "summary": f"{route.rpc} (gRPC)",
        "parameters": _parameters(route),
        "responses": {
            "200": _json({"$ref": _message_ref(method.output_type, schemas)}, "the answer"),
            **_errors("400", "404", "503"),
        },
    }


def _tx_paths() -> dict[str, Any]:
    """Broadcast and lookup, forwarded to CometBFT."""
    tx_response = {"type": "object", "properties": {"tx_response": {"type": "object"}}}
    tx_lookup = {
        "type": "object",
        "properties": {"tx_response": {"type": "object"}, "proof": {"type": "object"}},
    }
    broadcast_body = {
        "type": "object",
        "required": ["tx_bytes"],
        "properties": {
            "tx_bytes": {"type": "string", "format": "byte"},
            "mode": {"type": "string", "enum": ["BROADCAST_MODE_SYNC"]},
        },
    }
    upstream = {"502": _json(_ERROR_REF, "CometBFT refused"), "503": _json(_ERROR_REF, "no CometBFT RPC")}
    return {
        BROADCAST_PATH: {
            "post": {
                "operationId": "tx.Broadcast",
                "tags": ["tx"],
                "summary": "broadcast a signed tx (CheckTx's answer; code 0 is accepted)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": broadcast_body}},
                },
                "responses": {
                    "200": _json(tx_response, "CheckTx's outcome"),
                    "413": _json(_ERROR_REF, "a tx over auth max_tx_bytes"),
                    **_errors("400"),
                    **upstream,
                },
            }
        },
        TX_PATH: {
            "get": {
                "operationId": "tx.GetTx",
                "tags": ["tx"],
                "summary": "an included tx and its result (with verify=true, their Merkle paths to "
                "headers H and H+1)",
                "parameters": [
                    {"name": "hash", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "verify", "in": "query", "required": False, "schema": {"type": "boolean"}},
                ],
                "responses": {
                    "200": _json(tx_lookup, "the tx"),
                    **_errors("400", "404"),
                    **upstream,
                },
            }
        },
    }


def compute_openapi(routes: list[Route], version: str = "0.1.0") -> dict[str, Any]:
    """The whole document."""
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["code", "codespace", "message"],
            "properties": {
                "code": {"type": "integer"},
                "codespace": {"type": "string"},
                "message": {"type": "string"},
            },
        }
    }
    paths: dict[str, Any] = {r.template: {"get": _query_operation(r, schemas)} for r in routes}
    paths.update(_tx_paths())
    paths["/metrics"] = {
        "get": {
            "operationId": "metrics",
            "tags": ["node"],
            "summary": "Prometheus metrics of the app process",
            "responses": {"200": {"description": "text exposition", "content": {"text/plain": {}}}},
        }
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Synod REST gateway",
            "version": version,
            "description": "JSON over HTTP for every gRPC query of every module (answers carry their "
            "StateProof with ?verify=true), tx broadcast and lookup, and Prometheus metrics.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
