"""The one helper every sensitive action calls. No Flask here.

The row is written in the caller's transaction: if the audit insert fails, the action it
records rolls back with it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from dashboard.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who did it: a user, an API key, a partner, staff, or the system."""

    label: str
    user_id: uuid.UUID | None = None
    ip: str | None = None
    user_agent: str | None = None


SYSTEM = Actor(label="system")


def record_audit(
    session: Session,
    *,
    org_id: uuid.UUID,
    actor: Actor,
    action: str,
    target: str | None = None,
    before: Any = None,
    after: Any = None,
    details: dict | None = None,
) -> None:
    session.add(AuditEvent(**audit_values(
        org_id=org_id, actor=actor, action=action, target=target, before=before, after=after,
        details=details)))
    session.flush()


def audit_values(
    *,
    org_id: uuid.UUID,
    actor: Actor,
    action: str,
    target: str | None = None,
    before: Any = None,
    after: Any = None,
    details: dict | None = None,
) -> dict[str, Any]:
    """An audit row's columns, as ``record_audit`` writes them (lengths bounded). Also for a
    statement that writes the row itself (``audit_params``): ``details`` is then JSON text."""
    payload = dict(details or {})
    if before is not None:
        payload["before"] = before
    if after is not None:
        payload["after"] = after
    return {
        "org_id": org_id,
        "actor_user_id": actor.user_id,
        "actor": actor.label[:200],
        "action": action,
        "target": target[:300] if target else None,
        "ip": actor.ip,
        "user_agent": (actor.user_agent or "")[:300] or None,
        "details": payload,
    }


def audit_params(values: dict[str, Any]) -> dict[str, Any]:
    """``audit_values`` as the parameters of a statement that writes the row itself (the org
    switch's ``app_switch_session``): named audit_<column>, ``details`` as JSON text."""
    return {f"audit_{k}": json.dumps(v) if k == "details" else v for k, v in values.items()}


# ------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: str | None


def _filtered(filters):
    from sqlalchemy import select

    query = select(AuditEvent)
    if filters.actor:
        query = query.where(AuditEvent.actor.ilike(f"%{_escape_like(filters.actor)}%"))
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.at < filters.until)
    return query


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_events(session: Session, filters, *, cursor: str | None = None, limit: int = 50):
    """Newest first, keyset-paginated on (at, id). RLS limits rows to the current org."""
    from sqlalchemy import tuple_

    query = _filtered(filters).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if cursor:
        at, event_id = decode_cursor(cursor)
        query = query.where(tuple_(AuditEvent.at, AuditEvent.id) < (at, event_id))
    rows = list(session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, encode_cursor(rows[-1]) if more and rows else None)


def iter_events(session: Session, filters, batch: int = 1000):
    """Every matching event, newest first, streamed in batches (for CSV export)."""
    cursor = None
    while True:
        page = list_events(session, filters, cursor=cursor, limit=batch)
        yield from page.events
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def distinct_actions(session: Session) -> list[str]:
    from sqlalchemy import select

    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


class BadCursor(ValueError):
    pass


def encode_cursor(event: AuditEvent) -> str:
    import base64

    raw = f"{event.at.isoformat()}|{event.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str):
    import base64
    from datetime import datetime

    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at_text, id_text = base64.urlsafe_b64decode(padded.encode()).decode().split("|", 1)
        return datetime.fromisoformat(at_text), uuid.UUID(id_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadCursor("That page link is not valid.") from exc
