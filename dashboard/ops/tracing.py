"""OpenTelemetry traces, on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (OTLP over HTTP).

A span per request (opentelemetry-instrumentation-flask) and per SQL statement
(opentelemetry-instrumentation-sqlalchemy, the app's engine), sent in batches. The request
span carries the acting org, user and credential ids (``tenantdesk.org_id``, ...), never a
name or email; its URL attributes hold the route, never the raw path or query. Probes and
/metrics make no spans. Tests pass their own exporter in ``OTEL_SPAN_EXPORTER`` (the SDK's
in-memory one).

The SQLAlchemy instrumentation patches ``create_engine`` for the whole process: one app per
process, as under gunicorn.
"""

from __future__ import annotations

from flask import g, request

_EXCLUDED = "healthz,readyz,metrics,static/"
_RAW_URL_ATTRIBUTES = frozenset({"http.target", "http.url", "url.full", "url.path", "url.query"})


def enabled(config) -> bool:
    return bool(config.get("OTEL_SPAN_EXPORTER") or config.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def _exporter(config):
    if config.get("OTEL_SPAN_EXPORTER") is not None:
        return config["OTEL_SPAN_EXPORTER"], False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = config["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/")
    return OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"), True


def init_app(app) -> None:
    if not enabled(app.config):
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": app.config.get("OTEL_SERVICE_NAME")
                                  or "tenantdesk"})
    )
    exporter, batched = _exporter(app.config)
    provider.add_span_processor(
        BatchSpanProcessor(exporter) if batched else SimpleSpanProcessor(exporter)
    )
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider, excluded_urls=_EXCLUDED)
    # skip_dep_check: the package declares SQLAlchemy < 2.1; the hooks it uses (engine
    # events) are unchanged in 2.1, and tests/ops/test_tracing.py checks the spans.
    SQLAlchemyInstrumentor().instrument(
        engine=app.extensions["tenantdesk.db"].engine, tracer_provider=provider,
        skip_dep_check=True,
    )
    app.extensions["tenantdesk.tracer_provider"] = provider


def annotate(ids: dict) -> None:
    """Put who the request acted for on its span (called at the end of each request)."""
    from opentelemetry import trace

    span = trace.get_current_span()
    if not span.is_recording():
        return
    # The instrumentation records the raw path (and query), which may hold a token
    # (/invitations/<token>): overwrite it with the route, as the metrics and logs do.
    rule = request.url_rule.rule if request.url_rule is not None else "(no route)"
    attributes = getattr(span, "attributes", None) or {}
    for name in _RAW_URL_ATTRIBUTES & set(attributes):
        span.set_attribute(name, rule)
    for name, value in ids.items():
        span.set_attribute(f"tenantdesk.{name}", value)
    if g.get("request_id"):
        span.set_attribute("tenantdesk.request_id", g.request_id)
