"""Support mode's rules on every request: what it may change (dashboard/permissions.py
decides: read-only unless write access was chosen on entry, and never anything that creates
lasting access), and every request it makes goes to the org's own audit log."""

from __future__ import annotations

from flask import g, request

from dashboard import tenancy
from dashboard.audit.service import record_audit
from dashboard.audit.web import request_actor
from dashboard.errors import refuse
from dashboard.permissions import support_refusal

# Leaving support mode is audited by app_exit_support itself (the grant is gone afterwards).
_NOT_AUDITED_HERE = {"static", "support.exit_support"}


def init_app(app) -> None:
    # Registered after the principal loader and the org resolution: g.support is known.
    @app.before_request
    def _support_rules():
        support = g.get("support")
        if support is None:
            return None
        g.support_context = g.get("tenant_context")  # the org's, as the principal loader bound it
        view = app.view_functions.get(request.endpoint)
        why = support_refusal(getattr(view, "access_rule", None), request.endpoint,
                              request.method, writes=support.writes)
        return refuse(403, "support_mode", why) if why else None

    # Registered after tenancy.init_app, so it runs before the commit (Flask runs after_request
    # hooks in reverse order): the audit row shares the request's transaction.
    @app.after_request
    def _audit_staff(response):
        request_g = g._get_current_object()
        support, membership = request_g.get("support"), request_g.get("membership")
        if support is None or membership is None or request.endpoint in _NOT_AUDITED_HERE:
            return response
        if response.status_code < 400:
            actor = request_actor()
            context = g.get("support_context")
            if context is not None and g.get("tenant_context") != context:
                # A staff console page (/admin/orgs/<id>, its tier page) rebound the request
                # to the staff context, where the org's audit rows are out of reach: the row
                # goes in under the org's own context again (the console's reads committed).
                tenancy.bind_request(context)
            record_audit(
                tenancy.request_session(),
                org_id=membership.org_id,
                actor=actor.__class__(label=f"staff:{actor.label}", user_id=actor.user_id,
                                      ip=actor.ip, user_agent=actor.user_agent),
                action="staff.request",
                target=f"{request.method} {request.path}"[:300],
                details={"grant_id": str(support.grant_id), "status": response.status_code},
            )
        return response
