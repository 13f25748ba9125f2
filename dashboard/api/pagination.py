"""Opaque, tamper-evident cursors: a signed (resource, org, position) triple.

A cursor cannot be forged or edited (signature), cannot be replayed on another resource or
by another org's credential (both are inside the signature), and reveals nothing useful.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from dashboard.api.errors import ApiError

_SALT = "tenantdesk.api.cursor.v1"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def encode(resource: str, org_id, position: Any) -> str:
    return _serializer().dumps({"r": resource, "o": str(org_id), "p": position})


def decode(cursor: str | None, resource: str, org_id) -> Any:
    """The position inside ``cursor``, or None for the first page; 400 when invalid."""
    if cursor is None:
        return None
    try:
        data = _serializer().loads(cursor)
    except (BadSignature, ValueError, TypeError):
        data = None
    if not isinstance(data, dict) or data.get("r") != resource or data.get("o") != str(org_id):
        raise ApiError(400, "invalid_cursor", "The cursor is not valid for this list.")
    return data.get("p")


def query_position(cursor: str | None, resource: str, org_id, query_fingerprint: str) -> Any:
    """Like ``decode`` for a list whose cursor also carries its query (``{"f": fingerprint,
    ...}``): a cursor of the same list under another filter or page size is a 400 too."""
    position = decode(cursor, resource, org_id)
    if position is not None and (not isinstance(position, dict)
                                 or position.get("f") != query_fingerprint):
        raise ApiError(400, "invalid_cursor", "The cursor belongs to a different query.")
    return position
