"""Error pages: a clear message, never a stack trace, JSON under /api/."""

from __future__ import annotations

import logging

from flask import redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# deadlock_detected, serialization_failure, lock_not_available
CONFLICT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
CONFLICT_MESSAGE = (
    "Someone else changed this at the same moment. Reload the page to see the current state"
    " and try again."
)

# A membership insert refused because the org's directory (SCIM) deactivated the person
# (migration 0025_directory_blocks): whatever door they tried, say who decides.
DIRECTORY_SQLSTATE = "TD403"
DIRECTORY_MESSAGE = (
    "Your organization's directory (its identity provider's user provisioning) has turned off"
    " your access to this organization. Ask your IT administrator to reactivate you there."
)

MESSAGES = {
    400: "The request could not be understood.",
    401: "Sign in to continue.",
    403: "You do not have permission to do that.",
    404: "Not found.",
    405: "That method is not allowed here.",
    409: "That conflicts with the current state.",
    413: "The request is too large.",
    429: "Too many requests. Slow down and try again shortly.",
    500: "Something went wrong on our side.",
}


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/partner/", "/scim/", "/auth/token")) or (
        request.accept_mimetypes.best == "application/json"
    )


def json_error(status: int, code: str, message: str):
    return {"error": {"code": code, "message": message}}, status


def refuse(status: int, code: str, message: str):
    """A refusal with its own message: JSON for API and JSON callers, else the error page."""
    if wants_json() or request.path.endswith(".json") or request.is_json:
        return json_error(status, code, message)
    return render_template("errors/error.html", status=status, message=message), status


def init_app(app) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        message = "Your form expired or was sent from another site. Reload the page and try again."
        if wants_json():
            return json_error(400, "csrf_failed", message)
        return render_template("errors/error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if exc.response is not None:  # abort(response) carries its own page
            return exc.response
        status = exc.code or 500
        if status == 401 and not wants_json():
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        message = MESSAGES.get(status, exc.description)
        if wants_json():
            return json_error(status, exc.name.lower().replace(" ", "_"), message)
        template = "errors/404.html" if status == 404 else "errors/error.html"
        return render_template(template, status=status, message=message), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # Two transactions that wanted the same rows at once (a deadlock, a serialization
        # failure): a conflict, not our failure. Database errors reach here through the
        # outage handler (dashboard/ops/outages.py) when the database is up.
        if isinstance(exc, DBAPIError) and (
                getattr(exc.orig, "sqlstate", None) in CONFLICT_SQLSTATES):
            log.warning("database conflict on %s %s: %s", request.method, request.path,
                        str(exc.orig).splitlines()[0])
            return refuse(409, "conflict", CONFLICT_MESSAGE)
        if isinstance(exc, DBAPIError) and (
                getattr(exc.orig, "sqlstate", None) == DIRECTORY_SQLSTATE):
            return refuse(403, "deactivated_by_directory", DIRECTORY_MESSAGE)
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return json_error(500, "internal_error", MESSAGES[500])
        return render_template("errors/error.html", status=500, message=MESSAGES[500]), 500
