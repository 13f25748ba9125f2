"""What the org home shows besides the overview: a getting-started checklist, pending
invitations and recent audit events. No Flask; the caller passes its RLS-scoped session.

Page cost (issue 20): each panel is one statement over indexes that lead with ``org_id``
(primary keys, ``audit_events_org_at_idx``), read only for a viewer who may use it, with a
fixed LIMIT, so the home runs the same statements for a 5-member org and a 100,000-member
one (tests/db/test_queries_per_page.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from dashboard.licenses.features import Feature
from dashboard.models import (
    AuditEvent,
    Invitation,
    MemberCount,
    OrgCredential,
    SsoConnection,
    SsoDomain,
)
from dashboard.permissions import Permission

SHOWN = 5


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    hint: str
    endpoint: str
    permission: Permission
    feature: Feature | None
    done: bool


@dataclass(frozen=True)
class PendingInvite:
    id: uuid.UUID
    email: str
    role: str
    sent_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class RecentEvent:
    at: datetime
    actor: str
    action: str
    target: str | None


# (key, label, hint, endpoint, permission, feature): the order new orgs usually go in.
_STEPS = (
    ("invite", "Invite your team", "Send invitations by email, with a role each.",
     "invitations.index", Permission.MEMBERS_INVITE, None),
    ("domain", "Verify a domain", "Prove you own your email domain with a DNS record.",
     "sso.settings", Permission.SSO_MANAGE, Feature.SSO),
    ("sso", "Set up single sign-on", "Let people sign in through your SAML or OIDC provider.",
     "sso.settings", Permission.SSO_MANAGE, Feature.SSO),
    ("api_key", "Create an API key", "Call the JSON API from your own systems.",
     "apikeys.index", Permission.APIKEYS_MANAGE, Feature.API_ACCESS),
)


@dataclass(frozen=True)
class HomePanels:
    checklist: list[Step] | None  # None: nothing to show (no step for you, or all done)
    invitations: list[PendingInvite] | None  # None: you may not invite
    invitations_total: int
    events: list[RecentEvent] | None  # None: you may not read the audit log


def _json_rows(columns, where, newest_first):
    """A scalar subquery: the newest ``SHOWN`` rows as one JSON array of arrays."""
    inner = (select(*columns).where(*where).order_by(newest_first.desc()).limit(SHOWN)
             .subquery())
    first = inner.c[newest_first.key]
    rows = func.json_agg(aggregate_order_by(func.json_build_array(*inner.c), first.desc()))
    return select(func.coalesce(rows, func.json_build_array())).scalar_subquery()


def panels(session: Session, org_id: uuid.UUID, permissions: frozenset[str]) -> HomePanels:
    """Everything the home's panels need, for what this viewer may see, in one statement."""
    steps = [s for s in _STEPS if s[4].value in permissions]
    may_invite = Permission.MEMBERS_INVITE.value in permissions
    may_audit = Permission.AUDIT_VIEW.value in permissions
    columns = {}
    if steps:
        members = (select(func.coalesce(func.sum(MemberCount.members), 0))
                   .where(MemberCount.org_id == org_id).scalar_subquery())
        # Named columns, never SELECT *: the runtime role cannot read every column.
        columns["invite"] = (members > 1) | select(Invitation.id).where(
            Invitation.org_id == org_id).exists()
        columns["domain"] = select(SsoDomain.org_id).where(
            SsoDomain.org_id == org_id, SsoDomain.verified_at.is_not(None)).exists()
        columns["sso"] = select(SsoConnection.id).where(
            SsoConnection.org_id == org_id).exists()
        columns["api_key"] = select(OrgCredential.id).where(
            OrgCredential.org_id == org_id, OrgCredential.kind == "api_key").exists()
    pending = (Invitation.org_id == org_id, Invitation.status == "pending",
               Invitation.expires_at > func.now())
    if may_invite:
        columns["invitations"] = _json_rows(
            (Invitation.id, Invitation.email, Invitation.role, Invitation.sent_at,
             Invitation.expires_at), pending, Invitation.sent_at)
        columns["invitations_total"] = (select(func.count()).select_from(Invitation)
                                        .where(*pending).scalar_subquery())
    if may_audit:
        columns["events"] = _json_rows(
            (AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.target),
            (AuditEvent.org_id == org_id,), AuditEvent.at)
    if not columns:
        return HomePanels(None, None, 0, None)
    row = session.execute(select(*(c.label(k) for k, c in columns.items()))).one()._mapping
    checklist = None
    if steps:
        checklist = [Step(key, label, hint, endpoint, permission, feature, bool(row[key]))
                     for key, label, hint, endpoint, permission, feature in steps]
        if all(step.done for step in checklist):
            checklist = None
    invitations = None
    if may_invite:
        invitations = [PendingInvite(uuid.UUID(i), email, role, _at(sent), _at(expires))
                       for i, email, role, sent, expires in row["invitations"]]
    events = None
    if may_audit:
        events = [RecentEvent(_at(at), actor, action, target)
                  for at, actor, action, target in row["events"]]
    return HomePanels(checklist, invitations, row.get("invitations_total", 0) or 0, events)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)
