"""Upgrade requests: "Request upgrade" on the not-in-plan page. No Flask.

A member asks for a feature; one open request per org and feature (asking again answers
"already asked"). The request is a tenant row plus an audit row in the member's transaction;
the route mails the org's owners after the commit, and staff see open requests across orgs
in the console through ``app_staff_upgrade_requests`` (staff only, in the database).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from dashboard.audit.service import Actor, record_audit
from dashboard.licenses import service
from dashboard.licenses.features import Feature

NOTE_MAX = 500


class UpgradeRequestError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Requested:
    feature: Feature
    feature_name: str
    created: bool  # False: an open request for this feature already existed
    owners: list[service.Contact]


@dataclass(frozen=True)
class OpenRequest:
    id: uuid.UUID
    org_id: uuid.UUID
    org_slug: str
    org_name: str
    plan: str
    feature: str
    feature_name: str
    requested_by: str | None
    created_at: datetime


_INSERT = text(
    "INSERT INTO upgrade_requests (org_id, feature, requested_by, note)"
    " VALUES (:org, :feature, :user, :note)"
    " ON CONFLICT (org_id, feature) WHERE handled_at IS NULL DO NOTHING RETURNING id"
)


def request_upgrade(session: Session, *, feature: str, user_id: uuid.UUID, note: str | None,
                    actor: Actor) -> Requested:
    """Record that the current org wants ``feature`` (which it must lack right now)."""
    try:
        wanted = Feature(feature)
    except ValueError:
        raise UpgradeRequestError("Choose a feature from the plan catalogue.") from None
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise UpgradeRequestError(f"Keep the note under {NOTE_MAX} characters.")
    entitled = service.entitlements(session)
    if entitled.has(wanted):
        raise UpgradeRequestError("Your organization already has this feature.")
    org_id = entitled.org_id
    created = session.execute(_INSERT, {"org": org_id, "feature": wanted.value,
                                        "user": user_id, "note": note}).scalar()
    if created is not None:
        record_audit(session, org_id=org_id, actor=actor, action="license.upgrade_request",
                     target=f"feature:{wanted.value}",
                     after={"feature": wanted.value, "plan": entitled.plan, "note": note})
    owners = [c for c in service.who_can_upgrade(session) if c.role == "owner"]
    return Requested(wanted, entitled.features[wanted.value].name, created is not None, owners)


def open_requests(session: Session, limit: int = 20) -> list[OpenRequest]:
    """Open requests across orgs, newest first (staff only; the database checks)."""
    rows = session.execute(text("SELECT * FROM app_staff_upgrade_requests(:n)"), {"n": limit})
    return [OpenRequest(*row) for row in rows]


def mark_handled(session: Session, org_id: uuid.UUID, request_id: uuid.UUID) -> bool:
    return bool(session.scalar(text("SELECT app_staff_handle_upgrade_request(:o, :r)"),
                               {"o": org_id, "r": request_id}))
