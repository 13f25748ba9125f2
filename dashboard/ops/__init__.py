"""Operations: health and readiness probes, outage pages, metrics, logs, traces, proxies.

``init_app`` runs right after the database is set up and before any other hook is
registered, so the probes answer before the principal loader, CSRF or the rate limiters run.
"""

from __future__ import annotations


def init_app(app) -> None:
    from dashboard.ops import health, outages

    health.init_app(app)
    outages.init_app(app)
