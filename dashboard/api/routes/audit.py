"""GET /api/v1/audit/events: the org's audit log, newest first (read by the audit service)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field

from dashboard import tenancy
from dashboard.api import pagination
from dashboard.api.auth import current_principal
from dashboard.api.errors import ApiError
from dashboard.api.registry import operation
from dashboard.api.routes import bp
from dashboard.api.schemas import Output, PageQuery
from dashboard.audit import service as audit
from dashboard.audit.filters import AuditFilters
from dashboard.permissions import ApiScope


class AuditQuery(PageQuery):
    action: str | None = Field(
        None, max_length=100, description="Exact action, e.g. `member.remove`."
    )
    actor: str | None = Field(None, max_length=200, description="Part of the actor's label.")
    since: AwareDatetime | None = Field(None, description="Events at or after this instant.")
    until: AwareDatetime | None = Field(None, description="Events before this instant.")


class AuditEventOut(Output):
    id: uuid.UUID
    at: datetime
    actor: str
    actor_user_id: uuid.UUID | None
    action: str
    target: str | None
    ip: str | None
    details: dict[str, Any]


class AuditEventPage(Output):
    items: list[AuditEventOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


def _fingerprint(filters: AuditFilters) -> str:
    # A cursor only continues the query it came from.
    raw = repr((filters.actor, filters.action, filters.since, filters.until)).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


@operation(bp, "GET", "/audit/events", summary="List audit events", tag="Audit log",
           scope=ApiScope.AUDIT_READ, query=AuditQuery, response=AuditEventPage)
def list_audit_events(query: AuditQuery):
    """Who did what in the organization, newest first; the log is append-only. A window
    whose `until` is not after its `since` is simply empty."""
    principal = current_principal()
    filters = AuditFilters(
        actor=(query.actor or "").strip(), action=(query.action or "").strip(),
        since=query.since, until=query.until,
    )
    position = pagination.decode(query.cursor, "audit", principal.org_id)
    inner = None
    if position is not None:
        if not isinstance(position, dict) or position.get("f") != _fingerprint(filters):
            raise ApiError(400, "invalid_cursor", "The cursor belongs to a different query.")
        inner = position.get("c")
    try:
        page = audit.list_events(tenancy.request_session(), filters, cursor=inner,
                                 limit=query.limit)
    except audit.BadCursor:
        raise ApiError(400, "invalid_cursor", "The cursor is not valid for this list.") from None
    next_cursor = None
    if page.next_cursor:
        next_cursor = pagination.encode(
            "audit", principal.org_id, {"c": page.next_cursor, "f": _fingerprint(filters)}
        )
    return AuditEventPage(
        items=[AuditEventOut.model_validate(event) for event in page.events],
        next_cursor=next_cursor,
    )
