"""Staff console rules: find orgs, suspend/reactivate, enter and leave support mode. No Flask.

Every check that matters is made again in the database (the app_staff_*/app_*_support
SECURITY DEFINER functions); staff never get a role that bypasses RLS. Inside an org they
act through a time-limited support grant that the RLS gate honours.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

SUPPORT_MINUTES = 60


class StaffError(Exception):
    def __init__(self, message: str, field: str = "reason") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class StaffOrg:
    id: uuid.UUID
    slug: str
    name: str
    status: str
    plan: str
    staff_access_allowed: bool
    delete_after: datetime | None
    members: int


@dataclass(frozen=True)
class SupportGrant:
    id: uuid.UUID
    expires_at: datetime
    write_reason: str | None = None


def find_orgs(session: Session, query: str = "", limit: int = 50) -> list[StaffOrg]:
    rows = session.execute(
        text("SELECT * FROM app_staff_orgs(:q, :limit)"), {"q": query.strip()[:100], "limit": limit}
    )
    return [StaffOrg(*row) for row in rows]


@dataclass(frozen=True)
class OrgPage:
    orgs: list[StaffOrg]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


ORG_PAGE_SIZE = 50  # fixed in app_staff_orgs_page (migration 0031)


def org_page(session: Session, query: str = "", page: int = 1) -> OrgPage:
    """One page of the console's org list (name order), with the number of matches."""
    query, page = query.strip()[:100], min(max(1, page), 1_000_000)
    rows = session.execute(text("SELECT * FROM app_staff_orgs_page(:q, :offset)"),
                           {"q": query, "offset": (page - 1) * ORG_PAGE_SIZE}).all()
    total = session.scalar(text("SELECT app_staff_orgs_count(:q)"), {"q": query}) or 0
    return OrgPage([StaffOrg(*row) for row in rows], total, page, ORG_PAGE_SIZE)


def get_org(session: Session, org_id: uuid.UUID) -> StaffOrg | None:
    found = find_orgs(session, str(org_id), 1)
    return found[0] if found and found[0].id == org_id else None


def enter_support(
    session: Session, org_id: uuid.UUID, reason: str, write_reason: str | None = None
) -> SupportGrant:
    """Open a support grant: read-only, or with write access when ``write_reason`` is given
    (chosen now or never: the database refuses to add it to a grant later)."""
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise StaffError("State why you need access (at least 10 characters).")
    if write_reason is not None:
        write_reason = write_reason.strip()[:500]
        if len(write_reason) < 10:
            raise StaffError("State why you need to change things (at least 10 characters).",
                             field="write_reason")
    try:
        with session.begin_nested():
            row = session.execute(
                text("SELECT * FROM app_enter_support(:org, :reason, :minutes)"),
                {"org": org_id, "reason": reason[:500], "minutes": SUPPORT_MINUTES},
            ).one()
            if write_reason is not None:
                session.execute(text("SELECT app_support_allow_writes(:grant, :reason)"),
                                {"grant": row[0], "reason": write_reason})
    except DBAPIError as exc:
        message = str(exc.orig).splitlines()[0]
        if "staff access off" in message:
            raise StaffError("The owner of this organization turned staff access off.") from exc
        raise StaffError("You cannot enter this organization.") from exc
    return SupportGrant(row[0], row[1], write_reason)


def exit_support(session: Session, grant_id: uuid.UUID) -> None:
    session.execute(text("SELECT app_exit_support(:g)"), {"g": grant_id})


def open_support_session(
    session: Session, staff_user_id: uuid.UUID, org_id: uuid.UUID | None,
    old_session_id: uuid.UUID, client,
) -> uuid.UUID:
    """Rotate the staff member's browser session into (or out of) an org; returns its id."""
    from dashboard.auth.service import revoke_session
    from dashboard.models import UserSession

    revoke_session(session, old_session_id, "support mode")
    record = UserSession(
        id=uuid.uuid4(), user_id=staff_user_id, org_id=org_id,
        ip=client.ip[:64], user_agent=client.user_agent[:300],
    )
    session.add(record)
    session.flush()
    return record.id
