"""The org's MFA requirement, on every request, right after the principal check.

The principal loader already read the session's second factor and the active org's policy in
its one query (auth/principal.py, policy.session_end_reason for the session limits), so this
costs no database round trip: a session without the second factor the org requires is sent
to verify or set one up, and can reach nothing of the org until it has.
"""

from __future__ import annotations

from flask import g, redirect, request, url_for

from dashboard.accounts.policy import mfa_missing
from dashboard.errors import json_error

# What a session that still owes the org its second factor may reach: its own account pages
# (to set one up), signing out, the switcher (to go to another org), static files.
ALLOWED_BLUEPRINTS = frozenset({"accounts", "account"})
ALLOWED_ENDPOINTS = frozenset({"static", "auth.logout", "auth.switch", "auth.switcher",
                               "auth.switched", "auth.login", "auth.index"})


def _check():
    request_g = g._get_current_object()
    principal = request_g.get("principal")
    membership = request_g.get("membership")
    if principal is None or membership is None:
        return None
    if not mfa_missing(membership.security, principal.auth_method, principal.mfa_method):
        return None
    if request.blueprint in ALLOWED_BLUEPRINTS or request.endpoint in ALLOWED_ENDPOINTS:
        return None
    if request.path.startswith("/api/"):
        return json_error(403, "mfa_required",
                          f"{membership.name} requires two-factor authentication.")
    target = request.full_path.rstrip("?") if request.method == "GET" else "/"
    return redirect(url_for("accounts.security_check", next=target), 303)


def init_app(app) -> None:
    app.before_request(_check)  # registered after the principal loader and the org switch
