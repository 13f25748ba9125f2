"""What happens around every request: a request id, then one metrics sample, one log line
and the span's attributes when the response is ready. Never reads the request body."""

from __future__ import annotations

import time

from flask import current_app, g

from dashboard.ops import health, logs, metrics, tracing


def init_app(app) -> None:
    tracing_on = tracing.enabled(app.config)
    metrics_on = app.config.get("METRICS_ENABLED", True)

    @app.before_request
    def _start():
        g.ops_started = time.perf_counter()
        g.request_id = logs.request_id(current_app.config["TRUST_REQUEST_ID"])

    @app.after_request
    def _finish(response):
        # Runs last. After an error raised by another after_request hook, Flask runs the hooks
        # again for the error page: count that one.
        if g.get("ops_done"):
            return response
        g.ops_done = True
        seconds = time.perf_counter() - g.get("ops_started", time.perf_counter())
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if metrics_on:
            metrics.observe(response, seconds)
        from flask import request

        if request.endpoint not in health.PROBES:
            logs.log_request(response, seconds)
        if tracing_on:
            tracing.annotate(logs.who())
        return response
