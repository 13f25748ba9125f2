"""Operations: probes, outage pages, metrics, logs, traces, the proxy in front.

``init_app`` runs right after the database is set up and before any other hook is
registered, so the probes answer before the principal loader, CSRF or the rate limiters run,
and the request timer starts first and the log line is written last.
"""

from __future__ import annotations


def init_app(app) -> None:
    from dashboard.ops import health, logs, metrics, outages, proxy, request_hooks, tracing

    logs.configure(app.config)
    request_hooks.init_app(app)
    health.init_app(app)
    metrics.init_app(app)
    outages.init_app(app)
    tracing.init_app(app)
    proxy.init_app(app)
