"""``/healthz`` (the process answers; no database) and ``/readyz`` (it can serve).

Both are public, read no tenant data and answer before any other request hook: no session
look-up, no CSRF, no rate limit, so a load balancer may poll them every second.

``/readyz`` runs every registered readiness check and answers 200 only when all pass:

- ``database``: one round trip as the runtime role, which must see every migration head of
  this code in ``alembic_version`` (``required_revisions``);
- ``redis``: a PING, when ``REDIS_URL`` is set.

Other areas add theirs with ``register_check(app, name, check)``; ``check(app)`` returns None
when fine, else a short problem (never a secret or tenant data: the answer is public) or
raises. The isolation tiers register one that checks every tier's revision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, current_app, request
from sqlalchemy import text

from dashboard.permissions import public

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)
# Answered before every other hook (no principal, CSRF or rate limit): the probes and metrics.
PROBES = frozenset({"ops.healthz", "ops.readyz", "ops_metrics.metrics"})
_CHECKS = "tenantdesk.readiness"

Check = Callable[[object], "str | None"]


def register_check(app, name: str, check: Check) -> None:
    app.extensions.setdefault(_CHECKS, {})[name] = check


def required_revisions() -> frozenset[str]:
    """The migration heads of this code: the database must be at all of them."""
    from alembic.script import ScriptDirectory

    from dashboard.migrate import alembic_config

    return frozenset(ScriptDirectory.from_config(alembic_config("")).get_heads())


def missing_revisions(connection, required: frozenset[str]) -> set[str]:
    rows = connection.execute(text("SELECT version_num FROM alembic_version"))
    present = {row[0] for row in rows}
    return set(required) - present


def _database(app) -> str | None:
    engine = app.extensions["tenantdesk.db"].engine
    with engine.connect() as connection:
        connection.execute(text("SET LOCAL statement_timeout = 2000"))
        missing = missing_revisions(connection, app.extensions["tenantdesk.required_revisions"])
        connection.rollback()
    return f"migrations missing: {', '.join(sorted(missing))}" if missing else None


def _redis(app) -> str | None:
    import redis

    client = app.extensions.get("tenantdesk.readiness_redis")
    if client is None:
        client = redis.Redis.from_url(
            app.config["REDIS_URL"], socket_connect_timeout=1, socket_timeout=1
        )
        app.extensions["tenantdesk.readiness_redis"] = client
    client.ping()
    return None


@bp.get("/healthz")
@public
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
@public
def readyz():
    results = {}
    for name, check in current_app.extensions.get(_CHECKS, {}).items():
        try:
            problem = check(current_app)
        except Exception as exc:  # a probe reports; it never fails with a 500
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            problem = "unreachable"
        results[name] = problem or "ok"
    ready = all(result == "ok" for result in results.values())
    body = {"status": "ready" if ready else "unavailable", "checks": results}
    return body, 200 if ready else 503


def _answer_probes():
    # Registered before every other before_request hook: a probe never loads a principal,
    # opens a request session or counts against a rate limit.
    if request.endpoint in PROBES:
        return current_app.view_functions[request.endpoint]()
    return None


def init_app(app) -> None:
    app.extensions["tenantdesk.required_revisions"] = required_revisions()
    register_check(app, "database", _database)
    if app.config.get("REDIS_URL"):
        register_check(app, "redis", _redis)
    app.before_request(_answer_probes)
    app.register_blueprint(bp)
