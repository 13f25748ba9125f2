"""The org switch, shared by the switcher (POST /switch) and deep links (/o/<other>/...).

Membership is checked by ``service.switch_target`` (the user's own orgs, with the org's SSO
policy, in one statement). Then, in ONE transaction under the new org's RLS context: the old
session id is revoked, a new session row opened and the switch written to the new org's audit
log (one statement, which does all of it only if the old session was still live). Only then
is the new browser token issued. The old token (cookie replay) and every access token minted
from it are refused from the next request on.
"""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, g, redirect, session, url_for

from dashboard import tenancy
from dashboard.audit.service import audit_values
from dashboard.audit.web import request_actor
from dashboard.auth import service
from dashboard.auth.principal import client_info, issue_token
from dashboard.permissions import BUILTIN_ROLES, permissions_for


def switch_to(target: service.SwitchTarget, *, via: str) -> frozenset:
    """Switch the signed-in user to ``target``; returns their permissions there."""
    principal = g.principal
    old = g.get("membership")
    org = target.org
    # The new org's context from here on, as before any check below (the same refusal of
    # another org on an org's own host); no ORM session is made for it (issue 20).
    tenancy.bind_request_lazily(service.context_for(principal.user_id, org.org_id))
    audit = audit_values(
        org_id=org.org_id,
        actor=request_actor(),
        action="session.switch",
        target=f"org:{org.slug}",
        before={"org": old.slug if old else None},
        after={"org": org.slug},
        details={"via": via},  # and the entry method, added by rotate_session
    )
    try:
        # None: the writes run alone under that context (a session made later, for a
        # custom role's permissions, acts for it too).
        new_id, _method = service.rotate_session(
            None, principal.user_id, principal.session_id,
            service.auth_of(principal.auth_method, principal.sso_org_id), target, client_info(),
            audit, timedelta(days=current_app.config["SESSION_IDLE_DAYS"]))
    except service.SessionEnded:
        # Revoked between the session check and the switch: signed out, as on the next request.
        tenancy.bind_request(tenancy.NOBODY)
        session.clear()
        abort(redirect(url_for("auth.login"), 303))
    issue_token(new_id, principal.user_id, org.org_id, org.role, keep_csrf=True)
    if org.role in BUILTIN_ROLES:
        return permissions_for(org.role)
    return permissions_for(
        org.role, service.custom_role_permissions(tenancy.request_session(), org.role))
