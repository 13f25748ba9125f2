"""While PostgreSQL cannot be reached: 503 with Retry-After, never "Something went wrong".

Pages get a self-contained maintenance page (it needs no database and no signed-in user),
the API a JSON ``{"error": {"code": "unavailable"}}``. Nothing is retried or cached here: the
pool drops a broken connection when it fails (SQLAlchemy invalidates it on a disconnect
error, pre-ping or not) and the next request opens a new one, so service resumes by itself
as soon as the server answers again. A request that failed was not acknowledged, and its
transaction was not committed.

A statement cancelled by ``statement_timeout`` answers the same 503 (the server is busy).
Both are counted in /metrics. Other database errors keep going to the generic error handler
(``dashboard/errors.py``).
"""

from __future__ import annotations

import logging

import psycopg
from flask import current_app, make_response
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError

from dashboard.errors import json_error, wants_json
from dashboard.ops import metrics

log = logging.getLogger(__name__)

# SQLSTATEs that mean "the server is not there for us right now".
_UNAVAILABLE_STATES = frozenset({
    "57P01",  # admin_shutdown (a fast or immediate stop)
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now (starting up, recovering)
    "53300",  # too_many_connections
})
STATEMENT_TIMEOUT = "57014"  # query_canceled: statement_timeout (or a cancel request)


def _driver_error(exc: BaseException) -> BaseException | None:
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.orig
    return exc if isinstance(exc, psycopg.Error) else None


def database_unavailable(exc: BaseException | None) -> bool:
    """True when ``exc`` says the database cannot be reached (not that a query was wrong)."""
    if exc is None:
        return False
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = _driver_error(exc)
    if not isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    state = getattr(orig, "sqlstate", None)
    # No SQLSTATE: the client could not connect or lost the connection.
    return state is None or state.startswith("08") or state in _UNAVAILABLE_STATES


def statement_timed_out(exc: BaseException | None) -> bool:
    orig = _driver_error(exc) if exc is not None else None
    return getattr(orig, "sqlstate", None) == STATEMENT_TIMEOUT


def unavailable_response():
    retry_after = str(current_app.config.get("OUTAGE_RETRY_AFTER_SECONDS", 5))
    message = "Tenantdesk is briefly unavailable. Please try again in a few seconds."
    if wants_json():
        response = make_response(json_error(503, "unavailable", message))
    else:
        # Straight from the Jinja environment: the app's context processors (banners, the
        # signed-in person) would ask the database that is not there.
        template = current_app.jinja_env.get_template("errors/maintenance.html")
        response = make_response(template.render(message=message, retry_after=retry_after), 503)
    response.headers["Retry-After"] = retry_after
    response.headers["Cache-Control"] = "no-store"
    return response


def _chain(app, error, key, exc_class):
    """The handler registered before ours (dashboard/errors.py), looked up when needed."""
    handler = app.error_handler_spec[None][key].get(exc_class)
    if handler is None:
        raise error
    return handler(error)


def init_app(app) -> None:
    def _database_error(error):
        if database_unavailable(error):
            log.warning("database unavailable: %s", type(_driver_error(error) or error).__name__)
            metrics.DB_UNAVAILABLE.inc()
            return unavailable_response()
        if statement_timed_out(error):
            log.warning("statement timeout")
            metrics.STATEMENT_TIMEOUTS.inc()
            return unavailable_response()
        return _chain(app, error, None, Exception)

    for exc_class in (sa_exc.DBAPIError, sa_exc.TimeoutError, psycopg.Error):
        app.register_error_handler(exc_class, _database_error)

    # An error raised after the view (the request session's commit in an after_request
    # hook) reaches Flask as an InternalServerError wrapping it.
    @app.errorhandler(InternalServerError)
    def _server_error(error: InternalServerError):
        original = error.original_exception
        if database_unavailable(original) or statement_timed_out(original):
            log.warning("database unavailable after the view: %s", type(original).__name__)
            counter = metrics.DB_UNAVAILABLE if database_unavailable(original) else (
                metrics.STATEMENT_TIMEOUTS)
            counter.inc()
            return unavailable_response()
        return _chain(app, error, None, HTTPException)
