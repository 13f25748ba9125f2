"""Declare an API operation once: route, guard, input and output models, and its spec entry.

``@operation(...)`` registers the Flask route (guarded by ``api_scope``), parses the query
string and JSON body with the declared pydantic models (unknown fields refused), renders the
declared response model, and records everything the OpenAPI generator needs. Handlers
receive parsed models and return a response model: no hand-written JSON, no hand-kept spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps

from flask import Blueprint, current_app, request
from pydantic import BaseModel, ValidationError

from dashboard.api.auth import api_scope
from dashboard.api.errors import ApiError
from dashboard.metadata import rules as metadata_rules
from dashboard.permissions import ApiScope, Permission
from dashboard.usage.web import metered


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str  # Flask rule, relative to the blueprint's /api/v1 prefix
    endpoint: str
    summary: str
    tag: str
    scope: ApiScope
    permission: Permission | None
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    description: str = ""
    errors: tuple[int, ...] = field(default=())


OPERATIONS: list[Operation] = []


def _describe(errors: list) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "body"
        if error.get("type") == "extra_forbidden":
            parts.append(f"{where}: unknown field")
        else:
            parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = len(errors) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def parse_query(model: type[BaseModel]) -> BaseModel:
    args = request.args
    repeated = [k for k in args if len(args.getlist(k)) > 1]
    if repeated:
        raise ApiError(400, "invalid_parameter", f"Give '{repeated[0]}' at most once.")
    values: dict = args.to_dict()
    if "metadata" in model.model_fields:
        # ?metadata[key]=value (OpenAPI's deepObject style) becomes {"metadata": {key: value}}
        found = metadata_rules.filter_items(values.items())
        values = {k: v for k, v in values.items() if not k.startswith("metadata[")}
        if found:
            values["metadata"] = found
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ApiError(400, "invalid_parameter", _describe(exc.errors())) from None


def parse_body(model: type[BaseModel]) -> BaseModel:
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413 before reading it all
    if not raw.strip():
        raise ApiError(400, "invalid_json", "The request body is empty; send a JSON object.")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
        raise ApiError(422, "validation_error", _describe(errors)) from None


def _render(result, status: int):
    if status == 204:
        return current_app.response_class(status=204)
    return current_app.response_class(
        result.model_dump_json(), status=status, mimetype="application/json"
    )


def operation(
    bp: Blueprint,
    method: str,
    rule: str,
    *,
    summary: str,
    tag: str,
    scope: ApiScope,
    permission: Permission | None = None,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
) -> Callable:
    def decorator(handler: Callable) -> Callable:
        @wraps(handler)
        def view(**path_args):
            kwargs = dict(path_args)
            if query is not None:
                kwargs["query"] = parse_query(query)
            if body is not None:
                kwargs["body"] = parse_body(body)
            return _render(handler(**kwargs), status)

        # Every successful call counts as one api_calls event (usage's rule; past a hard
        # quota it answers 429 and the call's writes roll back).
        guarded = api_scope(scope, permission=permission)(metered(view))
        bp.add_url_rule(rule, endpoint=handler.__name__, view_func=guarded, methods=[method])
        OPERATIONS.append(
            Operation(
                method=method.upper(),
                rule=rule,
                endpoint=f"{bp.name}.{handler.__name__}",
                summary=summary,
                tag=tag,
                scope=ApiScope(scope),
                permission=permission,
                query=query,
                body=body,
                response=response,
                status=status,
                description=(handler.__doc__ or "").strip(),
                errors=errors,
            )
        )
        return guarded

    return decorator


def document(
    endpoint: str,
    method: str,
    rule: str,
    *,
    summary: str,
    tag: str,
    scope: ApiScope,
    description: str,
    permission: Permission | None = None,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
) -> None:
    """Put a route another area owns (guarded by ``api_scope``, validated by its own rules)
    into the spec. Schemathesis then checks the route against this description."""
    OPERATIONS.append(
        Operation(
            method=method.upper(), rule=rule, endpoint=endpoint, summary=summary, tag=tag,
            scope=ApiScope(scope), permission=permission, query=None, body=body,
            response=response, status=status, description=description, errors=errors,
        )
    )
