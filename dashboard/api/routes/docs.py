"""The published OpenAPI document and a readable page rendered from it (no CDN, no JS)."""

from __future__ import annotations

import json

from flask import current_app, render_template

from dashboard.api import openapi
from dashboard.api.routes import bp
from dashboard.permissions import public


def spec() -> dict:
    cached = current_app.extensions.get("tenantdesk.openapi")
    if cached is None:
        cached = current_app.extensions["tenantdesk.openapi"] = openapi.build()
    return cached


@bp.route("/openapi.json")
@public
def openapi_json():
    response = current_app.response_class(
        json.dumps(spec(), indent=1), mimetype="application/json"
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/docs")
@public
def docs():
    document = spec()
    return render_template(
        "api/docs.html",
        spec=document,
        operations=list(_operations(document)),
        schemas=document["components"]["schemas"],
    )


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, op in item.items():
            yield {"path": path, "method": method.upper(), **op}
