"""Who is making this request: the browser session token checked against the database.

The token (Flask's signed session cookie) names the session id, user, active org and role.
Each request re-reads the session row, the user and the membership in one query under the
RLS context of that user and org, so a revoked session, a removed member, a changed role or a
suspended org takes effect on the very next request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app, g, request, session
from flask_login import LoginManager, UserMixin
from sqlalchemy import text

from dashboard import tenancy
from dashboard.permissions import permissions_for

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = None
login_manager.session_protection = None  # the server-side session row does this job

TOUCH_EVERY = timedelta(seconds=60)


@dataclass
class Principal(UserMixin):
    session_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    name: str
    is_staff: bool

    def get_id(self) -> str:  # Flask-Login keeps the session id, not the user id
        return str(self.session_id)


@dataclass
class ActiveMembership:
    org_id: uuid.UUID
    slug: str
    name: str
    plan: str
    role: str
    permissions: frozenset = field(default_factory=frozenset)


_LOAD_SQL = text(
    """
    SELECT s.id AS sid, s.last_seen_at, u.id AS uid, u.email, u.name, u.is_staff,
           o.id AS org_id, o.slug, o.name AS org_name, o.plan, m.role,
           r.permissions AS custom_permissions,
           now() - s.last_seen_at > :touch AS stale
      FROM user_sessions s
      JOIN users u ON u.id = s.user_id AND u.is_active
      LEFT JOIN memberships m ON m.user_id = u.id AND m.org_id = app_uuid(:oid)
      LEFT JOIN organizations o ON o.id = m.org_id
      LEFT JOIN roles r ON r.org_id = m.org_id AND r.key = m.role
     WHERE s.id = app_uuid(:sid) AND s.user_id = app_uuid(:uid)
       AND s.revoked_at IS NULL
       AND s.last_seen_at > now() - :idle
    """
)


@login_manager.user_loader
def load_principal(session_id: str) -> Principal | None:
    claims = {k: str(session.get(k) or "") for k in ("uid", "oid")}
    db = tenancy.bind_request(
        tenancy.TenantContext(user_id=claims["uid"] or None, org_id=claims["oid"] or None)
    )
    row = db.execute(
        _LOAD_SQL,
        {
            "sid": session_id,
            "uid": claims["uid"],
            "oid": claims["oid"],
            "touch": TOUCH_EVERY,
            "idle": timedelta(days=current_app.config["SESSION_IDLE_DAYS"]),
        },
    ).one_or_none()
    if row is None:
        tenancy.bind_request(tenancy.NOBODY)
        return None
    if row.stale:
        db.execute(
            text("UPDATE user_sessions SET last_seen_at = now() WHERE id = :sid"),
            {"sid": row.sid},
        )
        if row.org_id:
            db.execute(
                text(
                    "UPDATE memberships SET last_active_at = now()"
                    " WHERE org_id = :org AND user_id = :uid"
                ),
                {"org": row.org_id, "uid": row.uid},
            )
    if row.org_id is not None:
        g.membership = ActiveMembership(
            org_id=row.org_id,
            slug=row.slug,
            name=row.org_name,
            plan=row.plan,
            role=row.role,
            permissions=permissions_for(row.role, row.custom_permissions),
        )
        if session.get("role") != row.role:  # role changed since the token was issued
            session["role"] = row.role
    return Principal(
        session_id=row.sid, user_id=row.uid, email=row.email, name=row.name, is_staff=row.is_staff
    )


def client_info():
    from dashboard.auth.service import Client

    return Client(
        ip=request.remote_addr or "unknown", user_agent=request.headers.get("User-Agent", "")
    )


def issue_token(principal_session_id: uuid.UUID, user_id: uuid.UUID, org_id, role) -> None:
    """Write the signed browser token for a freshly opened session row."""
    csrf = session.get("csrf_token")
    session.clear()
    if csrf:  # keep other tabs' forms valid; the session id itself is new
        session["csrf_token"] = csrf
    session["uid"] = str(user_id)
    session["oid"] = str(org_id) if org_id else ""
    session["role"] = role or ""
    session["_user_id"] = str(principal_session_id)
    session["_fresh"] = True
    session.permanent = True


def init_app(app) -> None:
    login_manager.init_app(app)

    @app.before_request
    def _load():
        from flask_login import current_user

        g.tenant_context = tenancy.NOBODY
        g.membership = None
        if request.endpoint == "static":
            g.principal = None
            return
        g.principal = current_user if current_user.is_authenticated else None
