"""A user's own browser sessions: list, revoke one, revoke all. No Flask here.

``user_sessions`` is a global table, so every query names the user explicitly: one can only
ever see or end one's own sessions. Revocation takes effect on the next request, because the
principal loader re-reads the row every time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dashboard.auth.devices import describe_device
from dashboard.models import UserSession


@dataclass(frozen=True)
class SessionView:
    id: uuid.UUID
    org_id: uuid.UUID | None
    org_name: str | None
    device: str
    ip: str | None
    created_at: datetime
    last_seen_at: datetime
    current: bool


def _live(user_id: uuid.UUID, idle: timedelta):
    return (
        UserSession.user_id == user_id,
        UserSession.revoked_at.is_(None),
        UserSession.last_seen_at > func.now() - idle,
    )


def active_sessions(
    session: Session,
    user_id: uuid.UUID,
    current_id: uuid.UUID,
    org_names: dict[uuid.UUID, str],
    idle: timedelta,
) -> list[SessionView]:
    rows = session.scalars(
        select(UserSession)
        .where(*_live(user_id, idle))
        .order_by(UserSession.last_seen_at.desc(), UserSession.created_at.desc())
        .limit(200)
    )
    views = [
        SessionView(
            id=row.id,
            org_id=row.org_id,
            org_name=org_names.get(row.org_id) if row.org_id else None,
            device=describe_device(row.user_agent),
            ip=row.ip,
            created_at=row.created_at.astimezone(UTC),
            last_seen_at=row.last_seen_at.astimezone(UTC),
            current=row.id == current_id,
        )
        for row in rows
    ]
    return sorted(views, key=lambda v: not v.current)  # this device first


def find_live(
    session: Session, user_id: uuid.UUID, session_id: uuid.UUID, idle: timedelta
) -> UserSession | None:
    return session.scalar(select(UserSession).where(UserSession.id == session_id, *_live(
        user_id, idle)))


def live_sessions_by_org(
    session: Session, user_id: uuid.UUID, idle: timedelta
) -> dict[uuid.UUID | None, list[uuid.UUID]]:
    grouped: dict[uuid.UUID | None, list[uuid.UUID]] = {}
    for session_id, org_id in session.execute(
        select(UserSession.id, UserSession.org_id).where(*_live(user_id, idle))
    ):
        grouped.setdefault(org_id, []).append(session_id)
    return grouped


def revoke(
    session: Session, user_id: uuid.UUID, session_ids: list[uuid.UUID], reason: str
) -> int:
    """End the given sessions of this user; returns how many were still live."""
    if not session_ids:
        return 0
    result = session.execute(
        update(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.id.in_(session_ids),
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=func.now(), revoked_reason=reason[:100])
    )
    return result.rowcount
