"""Prometheus metrics (prometheus-client) on ``/metrics``.

Labels are bounded: the endpoint name of the matched route (``members.list``, never a path
or a slug; ``unmatched`` for a 404 without a route), the method, the status class. No org
label; ``METRICS_PER_TIER=1`` adds one counter labelled by isolation tier (a handful).

Who may scrape: with ``METRICS_TOKEN`` set, a caller presenting ``Authorization: Bearer
<token>``; without it, only a direct loopback caller (no ``X-Forwarded-For``/``Forwarded``
header, so nothing relayed by a reverse proxy on the same host).

Several gunicorn workers: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the
workers start (``gunicorn.conf.py`` does); each worker writes its samples there and any
worker's ``/metrics`` answers for all of them.

The webhook worker reports through ``QUEUE_DEPTH`` and ``DELIVERY_SECONDS``.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from flask import Blueprint, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from dashboard.permissions import public

bp = Blueprint("ops_metrics", __name__)

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "tenantdesk_http_requests_total", "HTTP requests answered.",
    ["endpoint", "method", "status_class"],
)
LATENCY = Histogram(
    "tenantdesk_http_request_duration_seconds", "Time to answer an HTTP request.",
    ["endpoint", "method"], buckets=_BUCKETS,
)
REQUESTS_BY_TIER = Counter(
    "tenantdesk_http_requests_by_tier_total", "HTTP requests per isolation tier "
    "(only with METRICS_PER_TIER=1).", ["tier", "status_class"],
)
POOL_IN_USE = Gauge(
    "tenantdesk_db_pool_in_use", "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "tenantdesk_db_pool_waiting", "Threads waiting for a pooled database connection.",
    multiprocess_mode="livesum",
)
STATEMENT_TIMEOUTS = Counter(
    "tenantdesk_db_statement_timeouts_total", "Statements cancelled by statement_timeout."
)
DB_UNAVAILABLE = Counter(
    "tenantdesk_db_unavailable_total", "Requests answered 503 because PostgreSQL was unreachable."
)
RATE_LIMITED = Counter(
    "tenantdesk_rate_limit_refusals_total", "Requests refused with 429 by a rate limit.",
    ["limit"],
)
LOGIN_FAILURES = Counter(
    "tenantdesk_login_failures_total", "Sign-in attempts refused for wrong credentials."
)
# Seams for the webhook worker (dashboard/worker.py): it sets and observes these.
QUEUE_DEPTH = Gauge(
    "tenantdesk_outbox_queue_depth", "Outbox rows waiting to be delivered.",
    multiprocess_mode="max",
)
DELIVERY_SECONDS = Histogram(
    "tenantdesk_webhook_delivery_seconds",
    "From an event's commit to its delivery attempt's answer.", ["outcome"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)

_RATE_LIMITS = {"auth.login": "sign-in", "invitations.accept": "invitation"}


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def endpoint_label(req=None) -> str:
    url_rule = (req or request).url_rule
    return url_rule.endpoint if url_rule is not None else "unmatched"


# (endpoint, method, status class) -> its request counter and latency histogram. Looking a
# labelled child up in prometheus-client takes a lock and rebuilds its key each time; the
# label values are bounded (see above), so each child is looked up once per process.
_CHILDREN: dict[tuple[str, str, str], tuple] = {}


def _children(endpoint: str, method: str, status: str) -> tuple:
    key = (endpoint, method, status)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = (REQUESTS.labels(endpoint, method, status),
                                  LATENCY.labels(endpoint, method))
    return found


def observe(response, seconds: float, req=None) -> None:
    """Count one answered request (called once per request by dashboard/ops/request_hooks.py,
    which hands over the request object: ``request`` is a proxy, read once)."""
    if req is None:
        req = request._get_current_object()
    endpoint = endpoint_label(req)
    method = req.method if req.method in _METHODS else "OTHER"
    status = response.status_code
    requests, latency = _children(endpoint, method, status_class(status))
    requests.inc()
    latency.observe(seconds)
    app = current_app._get_current_object()
    if app.config.get("METRICS_PER_TIER"):
        REQUESTS_BY_TIER.labels(str(g.get("tier") or "shared"), status_class(status)).inc()
    if status == 429:
        _count_refusal(endpoint, response)
    elif status == 401 and endpoint == "auth.login" and req.method == "POST":
        LOGIN_FAILURES.inc()
    _sample_pool(app)


def _count_refusal(endpoint: str, response) -> None:
    if endpoint in _RATE_LIMITS:
        RATE_LIMITED.labels(_RATE_LIMITS[endpoint]).inc()
    elif response.is_json and (response.get_json(silent=True) or {}).get("error", {}).get(
        "code"
    ) == "rate_limited":
        RATE_LIMITED.labels("api").inc()


def _sample_pool(app=None) -> None:
    database = (app or current_app).extensions.get("tenantdesk.db")
    if database is None:
        return
    pool = database.engine.pool
    in_use = pool.checkedout() if hasattr(pool, "checkedout") else 0
    # QueuePool keeps waiters on its queue's condition; other pools have none.
    waiters = getattr(getattr(getattr(pool, "_pool", None), "not_empty", None), "_waiters", ())
    # Written only when they changed: under gunicorn (PROMETHEUS_MULTIPROC_DIR) each write
    # takes a lock and writes the worker's mmapped file, and the pool is mostly as it was.
    # Keyed by process: a forked worker's gauges start over.
    sample = (os.getpid(), in_use, len(waiters))
    if sample != _last_pool_sample[0]:
        _last_pool_sample[0] = sample
        POOL_IN_USE.set(in_use)
        POOL_WAITING.set(sample[2])


_last_pool_sample: list = [None]


def _loopback_direct() -> bool:
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False
    original = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR")
    try:
        return ipaddress.ip_address(original or request.remote_addr or "").is_loopback
    except ValueError:
        return False


def allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        presented = request.headers.get("Authorization", "")
        return hmac.compare_digest(presented.encode(), f"Bearer {token}".encode())
    return _loopback_direct()


@bp.get("/metrics")
@public  # guarded by METRICS_TOKEN, or loopback only (allowed())
def metrics():
    if not allowed():
        return Response("Not found\n", status=404, mimetype="text/plain")
    _sample_pool()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def init_app(app) -> None:
    if app.config.get("METRICS_ENABLED", True):
        app.register_blueprint(bp)
