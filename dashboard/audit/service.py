"""The one helper every sensitive action calls. No Flask here.

The row is written in the caller's transaction: if the audit insert fails, the action it
records rolls back with it.
"""

from __future__ import annotations

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
    payload = dict(details or {})
    if before is not None:
        payload["before"] = before
    if after is not None:
        payload["after"] = after
    session.add(
        AuditEvent(
            org_id=org_id,
            actor_user_id=actor.user_id,
            actor=actor.label[:200],
            action=action,
            target=target[:300] if target else None,
            ip=actor.ip,
            user_agent=(actor.user_agent or "")[:300] or None,
            details=payload,
        )
    )
    session.flush()
