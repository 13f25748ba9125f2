"""The signed-in user's own sessions: list, revoke one, sign out everywhere. HTTP only.

Each revocation is audited in the org of the session concerned (an org-less session has no
org log to go to), in the same transaction as the revocation, under that org's RLS context.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, url_for

from dashboard import tenancy
from dashboard.audit.service import record_audit
from dashboard.audit.web import request_actor
from dashboard.auth import service, sessions
from dashboard.auth.routes import end_browser_session
from dashboard.permissions import authenticated

bp = Blueprint("account", __name__, url_prefix="/account")


def _idle() -> timedelta:
    return timedelta(days=current_app.config["SESSION_IDLE_DAYS"])


@bp.route("/sessions")
@authenticated
def session_list():
    db = tenancy.request_session()
    orgs = service.user_orgs(db)
    rows = sessions.active_sessions(
        db, g.principal.user_id, g.principal.session_id, {o.org_id: o.name for o in orgs},
        _idle(),
    )
    return render_template("auth/sessions.html", sessions=rows)


@bp.route("/sessions/<uuid:session_id>/revoke", methods=["POST"])
@authenticated
def revoke(session_id: uuid.UUID):
    # CSRF: checked for every POST by CSRFProtect (dashboard/security.py).
    user_id = g.principal.user_id
    record = sessions.find_live(tenancy.request_session(), user_id, session_id, _idle())
    if record is None:
        abort(404)  # not yours, or already ended: alike
    _revoke_in_org(record.org_id, [record.id], scope="one")
    if record.id == g.principal.session_id:
        end_browser_session()
        flash("You are signed out.", "info")
        return redirect(url_for("auth.login"), 303)
    flash("That session is signed out.", "success")
    return redirect(url_for("account.session_list"), 303)


@bp.route("/sessions/revoke-all", methods=["POST"])
@authenticated
def revoke_all():
    grouped = sessions.live_sessions_by_org(
        tenancy.request_session(), g.principal.user_id, _idle()
    )
    for org_id, ids in grouped.items():
        _revoke_in_org(org_id, ids, scope="all")
    end_browser_session()
    flash("You are signed out everywhere.", "info")
    return redirect(url_for("auth.login"), 303)


def _revoke_in_org(org_id: uuid.UUID | None, ids: list[uuid.UUID], *, scope: str) -> None:
    """Revoke ``ids`` and audit it in ``org_id`` when the user can still write there."""
    user_id = g.principal.user_id
    member_of = {o.org_id for o in service.user_orgs(tenancy.request_session())
                 if o.status == "active"}
    audit_org = org_id if org_id in member_of else None
    db = tenancy.bind_request(service.context_for(user_id, audit_org))
    count = sessions.revoke(db, user_id, ids, "revoked by user")
    if audit_org and count:
        record_audit(
            db,
            org_id=audit_org,
            actor=request_actor(),
            action="session.revoke",
            target=f"user:{g.principal.email}",
            details={"scope": scope, "sessions": [str(i) for i in ids], "count": count},
        )
