"""Step-up ("sudo mode"): a sensitive action asks for the password or a second factor again
when the session's last proof is older than ``STEP_UP_SECONDS`` (10 minutes).

Add it under the permission check, one line per route::

    @bp.route("/o/<slug>/api-keys", methods=["POST"])
    @requires(Permission.APIKEYS_MANAGE)
    @step_up
    def create(): ...

or, when only some requests of a route are sensitive (making someone an owner)::

    if new_role == "owner":
        require_recent_auth()

The check reads ``user_sessions.reauth_at`` (loaded with the principal on every request), so
it is made on the server at the moment of the action: a form rendered while the session was
fresh and posted later still asks again, and nothing the browser sends can skip it. A stale
browser request gets the "Confirm it's you" page (403), which sends the person back to the
page they came from once confirmed; an API call gets 403 ``{"error": {"code":
"step_up_required"}}``. Confirming (password, TOTP code or passkey) sets ``reauth_at`` and
is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, g, make_response, request, url_for

from dashboard.errors import json_error, wants_json


def is_fresh(principal=None) -> bool:
    principal = principal or g.get("principal")
    reauth_at = getattr(principal, "reauth_at", None)
    if reauth_at is None:
        return False
    window = timedelta(seconds=current_app.config["STEP_UP_SECONDS"])
    return datetime.now(UTC) - reauth_at <= window


def _back() -> str:
    """Where to return after confirming: this page for a GET, the form's page for a POST."""
    if request.method in ("GET", "HEAD"):
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    if referrer.path.startswith("/") and (not referrer.netloc or referrer.netloc == request.host):
        return referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return "/"


def require_recent_auth() -> None:
    """Abort with the confirmation page (or JSON 403) unless the last proof is recent."""
    if g.get("principal") is None:
        abort(401)
    if is_fresh():
        return
    if wants_json():
        body, status = json_error(403, "step_up_required",
                                  "Confirm your identity again (password or second factor).")
        abort(make_response(body, status))
    if request.headers.get("HX-Request"):  # htmx drops a 4xx body: send the tab to confirm
        response = make_response("", 403)
        response.headers["HX-Redirect"] = url_for("accounts.confirm", next=_back())
        abort(response)
    from dashboard.accounts.reauth import confirm_page

    abort(make_response(confirm_page(_back()), 403))


def step_up(view):
    """Decorator: ``require_recent_auth()`` before the view. Sits under ``@requires``."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        require_recent_auth()
        return view(*args, **kwargs)

    wrapper.step_up = True  # type: ignore[attr-defined]  (tests find guarded endpoints)
    return wrapper


