"""How the app answers what the tiers decide: maintenance (tier behind the code's revision),
read-only during a move, the per-org concurrency cap, the statement timeout; the move banner.

The pages here are standalone (no base layout): they are rendered when the request's
transaction cannot be trusted to run another query.
"""

from __future__ import annotations

import logging

from flask import current_app, g, render_template, request
from psycopg import errors as pg_errors
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import InternalServerError

from dashboard.errors import MESSAGES, json_error, wants_json
from dashboard.tiers import routing

log = logging.getLogger(__name__)

MAINTENANCE = (
    "This organization is being upgraded and will be back in a few minutes. Nothing you "
    "saved is lost."
)
READ_ONLY = (
    "This organization is being moved to new infrastructure: you can look around, but "
    "changes are paused for a few minutes. Try again shortly."
)
TIMED_OUT = (
    "This request took longer than your plan's query time limit and was stopped. Nothing "
    "was changed. Narrow the request (a shorter period, a smaller page) and try again."
)


def _answer(status: int, code: str, message: str, retry_after: int, title: str):
    if wants_json():
        body, status = json_error(status, code, message)
        response = _json(body, status)
    else:
        # Straight from the Jinja environment: no context processor (they would query).
        html = current_app.jinja_env.get_template("tiers/unavailable.html").render(
            status=status, title=title, message=message, path=request.path
        )
        response = _html(html, status)
    response.headers["Retry-After"] = str(retry_after)
    return response


def _json(body, status):
    from flask import jsonify

    response = jsonify(body)
    response.status_code = status
    return response


def _html(html, status):
    from flask import make_response

    return make_response(html, status)


def _discard_transaction() -> None:
    session = g.get("db_session")
    if session is not None:
        session.rollback()


def _org() -> str:
    context = g.get("tenant_context")
    return str(getattr(context, "org_id", None) or "-")


def init_app(app) -> None:
    @app.errorhandler(routing.TierBehind)
    def _behind(exc):
        _discard_transaction()
        log.warning("org %s: tier behind revision %s", _org(), routing.required_revision())
        return _answer(503, "maintenance", MAINTENANCE, 60, "Down for maintenance")

    @app.errorhandler(routing.TooManyRequests)
    def _busy(exc):
        _discard_transaction()
        log.warning("org %s: %s", _org(), exc)
        return _answer(429, "too_many_concurrent_requests", MESSAGES[429], 1,
                       "Too many requests")

    # Ours first for the two errors the tiers cause; anything else goes to the handler
    # registered before (dashboard/ops/outages.py: database unreachable), else the generic one.
    earlier_database = app.error_handler_spec[None][None].get(DBAPIError)
    earlier_500 = app.error_handler_spec[None].get(500, {}).get(InternalServerError)

    def _tier_answer(exc):
        orig = getattr(exc, "orig", None)
        if isinstance(orig, pg_errors.ReadOnlySqlTransaction):
            _discard_transaction()
            return _answer(503, "read_only_while_moving", READ_ONLY, 30, "Changes paused")
        if isinstance(orig, pg_errors.QueryCanceled):
            _discard_transaction()
            log.warning("org %s: statement timeout on %s %s", _org(), request.method,
                        request.path)
            return _answer(503, "statement_timeout", TIMED_OUT, 5, "Request stopped")
        return None

    @app.errorhandler(DBAPIError)
    def _database(exc: DBAPIError):
        answer = _tier_answer(exc)
        if answer is not None:
            return answer
        if earlier_database is not None:
            return earlier_database(exc)
        _discard_transaction()
        log.exception("unhandled database error on %s %s", request.method, request.path)
        if wants_json():
            return json_error(500, "internal_error", MESSAGES[500])
        return render_template("errors/error.html", status=500, message=MESSAGES[500]), 500

    # A write refused at the request's commit (after the view) arrives wrapped in a 500.
    @app.errorhandler(InternalServerError)
    def _after_view(error: InternalServerError):
        original = error.original_exception
        answer = _tier_answer(original) if isinstance(original, DBAPIError) else None
        if answer is not None:
            return answer
        if earlier_500 is not None:
            return earlier_500(error)
        if wants_json():
            return json_error(500, "internal_error", MESSAGES[500])
        return render_template("errors/error.html", status=500, message=MESSAGES[500]), 500

    @app.context_processor
    def _banner():
        from dashboard import tenancy

        info = tenancy.request_info(g._get_current_object())
        route = routing.route_of(info) if info is not None else None
        return {"tier_read_only": bool(route and route.read_only)}

