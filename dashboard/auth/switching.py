"""The org switch, shared by the switcher (POST /switch) and deep links (/o/<other>/...).

Membership is checked by ``service.switch_target`` (the user's own orgs, active only). Then,
in ONE transaction under the new org's RLS context: the old session id is revoked, a new
session row is opened, and the switch is written to the new org's audit log. Only then is
the new browser token issued. The old token (cookie replay) and every access token minted
from it are refused from the next request on.
"""

from __future__ import annotations

from flask import g

from dashboard import tenancy
from dashboard.audit.service import record_audit
from dashboard.audit.web import request_actor
from dashboard.auth import service
from dashboard.auth.principal import client_info, issue_token
from dashboard.models import User
from dashboard.permissions import BUILTIN_ROLES, permissions_for


def switch_to(target: service.OrgChoice, *, via: str) -> frozenset:
    """Switch the signed-in user to ``target``; returns their permissions there."""
    principal = g.principal
    old = g.get("membership")
    db = tenancy.bind_request(service.context_for(principal.user_id, target.org_id))
    user = db.get(User, principal.user_id)
    new_session = service.rotate_session(db, user, principal.session_id, target, client_info())
    record_audit(
        db,
        org_id=target.org_id,
        actor=request_actor(),
        action="session.switch",
        target=f"org:{target.slug}",
        before={"org": old.slug if old else None},
        after={"org": target.slug},
        details={"via": via, "method": new_session.auth_method},
    )
    issue_token(new_session.id, user.id, target.org_id, target.role, keep_csrf=True)
    if target.role in BUILTIN_ROLES:
        return permissions_for(target.role)
    return permissions_for(target.role, service.custom_role_permissions(db, target.role))
