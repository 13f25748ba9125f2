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
        request_g = g._get_current_object()
        request_g.ops_started = time.perf_counter()
        request_g.request_id = logs.request_id(current_app.config["TRUST_REQUEST_ID"])

    @app.after_request
    def _finish(response):
        # Runs last. After an error raised by another after_request hook, Flask runs the hooks
        # again for the error page: count that one.
        from flask import request

        # The proxies are read once here and handed on (each read costs more than the use).
        request_g, req = g._get_current_object(), request._get_current_object()
        if request_g.get("ops_done"):
            return response
        request_g.ops_done = True
        seconds = time.perf_counter() - request_g.get("ops_started", time.perf_counter())
        response.headers["X-Request-ID"] = request_g.get("request_id", "")
        if metrics_on:
            metrics.observe(response, seconds, req)
        if req.endpoint not in health.PROBES:
            logs.log_request(response, seconds, req, request_g)
        if tracing_on:
            tracing.annotate(logs.who(request_g))
        return response
