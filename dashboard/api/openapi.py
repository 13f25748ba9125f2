"""OpenAPI 3.1 from the operation registry and its pydantic models.

Why pydantic and this small generator rather than apispec or flask-smorest: pydantic v2
already emits JSON Schema 2020-12, which *is* OpenAPI 3.1's schema dialect, and the same models
validate requests (unknown fields refused) and render responses, so the spec cannot drift from
the code. The generator only lays out paths, parameters and shared error responses.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from dashboard import inputguard
from dashboard.api.registry import OPERATIONS, Operation
from dashboard.api.schemas import Error

API_ROOT = "/api/v1"
_RULE_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_CONVERTER_SCHEMA = {
    None: {"type": "string"},
    "string": {"type": "string"},
    "uuid": {"type": "string", "format": "uuid"},
    "int": {"type": "integer", "minimum": 0},
}
ERROR_TEXT = {
    400: "Bad request: invalid parameter, cursor or JSON, or a control character in the"
         " address, a parameter or a JSON string (tab and line breaks are allowed in JSON"
         " string values), or JSON nested too deeply.",
    401: "Missing, malformed, unknown, revoked or expired credential, or a suspended org.",
    403: "The credential lacks the scope (API key) or permission (user) for this call.",
    404: "No such object in the credential's org.",
    409: "Conflicts with the current state.",
    413: "Body too large.",
    415: "Body is not application/json.",
    422: "Body does not match the schema (wrong types, unknown or missing fields).",
    429: "Rate limit exceeded; see Retry-After.",
}
RATE_HEADERS = {
    name: {"description": text, "schema": {"type": "integer"}}
    for name, text in {
        "RateLimit-Limit": "Requests allowed per minute for this org / credential.",
        "RateLimit-Remaining": "Requests left in the current window.",
        "RateLimit-Reset": "Seconds until the window resets.",
    }.items()
}


def _text_pattern(node: Any, pattern: str) -> None:
    """Say in the spec what the input guard enforces (dashboard/inputguard.py): which
    control characters a string may not hold."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(node):
            node["pattern"] = pattern
        for value in node.values():
            _text_pattern(value, pattern)
    elif isinstance(node, list):
        for value in node:
            _text_pattern(value, pattern)


def _path(rule: str) -> tuple[str, list[dict]]:
    params = []
    for converter, name in _RULE_PARAM.findall(rule):
        params.append({
            "name": name,
            "in": "path",
            "required": True,
            "schema": dict(_CONVERTER_SCHEMA.get(converter or None, {"type": "string"})),
        })
    return API_ROOT + _RULE_PARAM.sub(r"{\2}", rule), params


def _without_null(schema: dict) -> dict:
    # An absent query parameter is how "no value" is said; null is not sendable in a URL.
    options = schema.get("anyOf")
    if options:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            schema = {**kept[0], **rest}
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    return schema


def _query_params(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(dict(prop))
        description = prop.pop("description", None)
        prop.pop("title", None)
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if prop.get("type") == "object":  # ?metadata[key]=value
            param.update(style="deepObject", explode=True)
        if description:
            param["description"] = description
        params.append(param)
    return params


def _error_response(status: int) -> dict:
    response: dict[str, Any] = {
        "description": ERROR_TEXT.get(status, "Error."),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}},
            **RATE_HEADERS,
        }
    return response


def _error_statuses(op: Operation, has_path_params: bool) -> list[int]:
    statuses = {400, 401, 403, 429, *op.errors}  # 400: the input guard may refuse any call
    if op.body is not None:
        statuses |= {400, 413, 415, 422}
    if has_path_params:
        statuses.add(404)
    return sorted(statuses)


def build(operations: list[Operation] | None = None) -> dict:
    operations = OPERATIONS if operations is None else operations
    models: list[tuple[type[BaseModel], str]] = [(Error, "serialization")]
    for op in operations:
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.response is not None:
            models.append((op.response, "serialization"))
    keys, top = models_json_schema(
        list(dict.fromkeys(models)), ref_template="#/components/schemas/{model}"
    )
    names_by_mode = {(model, mode): ref["$ref"] for (model, mode), ref in keys.items()}

    paths: dict[str, dict] = {}
    for op in operations:
        path, path_params = _path(op.rule)
        parameters = path_params + (_query_params(op.query) if op.query else [])
        responses: dict[str, Any] = {}
        if op.status == 204:
            responses["204"] = {"description": "Done.", "headers": RATE_HEADERS}
        else:
            responses[str(op.status)] = {
                "description": "Success.",
                "headers": RATE_HEADERS,
                "content": {"application/json": {
                    "schema": {"$ref": names_by_mode[(op.response, "serialization")]}
                }},
            }
        for status in _error_statuses(op, bool(path_params)):
            responses[str(status)] = _error_response(status)
        entry: dict[str, Any] = {
            "operationId": op.endpoint.split(".", 1)[-1],
            "summary": op.summary,
            "tags": [op.tag],
            "security": [{"bearer": []}],
            "x-required-scope": op.scope.value,
            "parameters": parameters,
            "responses": responses,
        }
        description = op.description
        scope_note = f"Requires scope `{op.scope.value}`"
        if op.permission is not None:
            scope_note += f" (users: permission `{op.permission.value}`)"
        entry["description"] = f"{description}\n\n{scope_note}.".strip()
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {
                    "schema": {"$ref": names_by_mode[(op.body, "validation")]}
                }},
            }
        paths.setdefault(path, {})[op.method.lower()] = entry

    spec = {
        "openapi": "3.1.0",
        "info": {
            "title": "Tenantdesk API",
            "version": "1.0.0",
            "description": (
                "Every call acts for exactly one organization: the one the credential belongs "
                "to. Authenticate with `Authorization: Bearer <key>` using an org API key "
                "(`td_live_…`, made on the org's API keys page) or a user's access token from "
                "`POST /auth/token`. Lists are cursor-paginated: pass `next_cursor` back as "
                "`cursor`. Errors are `{\"error\": {\"code\", \"message\"}}`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An org API key (td_live_…) or a user access token.",
                }
            },
        },
    }
    for operations_of_path in paths.values():
        for entry in operations_of_path.values():
            _text_pattern(entry["parameters"], inputguard.NAME_PATTERN)
    _text_pattern(spec["components"]["schemas"], inputguard.TEXT_PATTERN)
    return spec
