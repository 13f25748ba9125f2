"""OpenTelemetry: a server span per request with the org as an attribute, SQL spans under
it; collected with the SDK's in-memory exporter."""

from __future__ import annotations

from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests import factories
from tests.conftest import make_app
from tests.helpers import login


def test_request_spans_carry_the_org_and_contain_the_sql(database_urls, tmp_path):
    exporter = InMemorySpanExporter()
    app = make_app(database_urls, tmp_path, OTEL_SPAN_EXPORTER=exporter)
    org, people = factories.org_with_members(owner="owner")
    try:
        client = app.test_client()
        login(client, people["owner"])
        exporter.clear()
        assert client.get(f"/o/{org.slug}/members").status_code == 200
        assert client.get("/healthz").status_code == 200
    finally:
        SQLAlchemyInstrumentor().uninstrument()
        FlaskInstrumentor().uninstrument_app(app)
        app.extensions["tenantdesk.db"].dispose()
    spans = exporter.get_finished_spans()
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]  # /healthz makes none
    assert server.attributes["http.route"] == "/o/<slug>/members"
    assert server.attributes["tenantdesk.org_id"] == str(org.id)
    assert server.attributes["tenantdesk.user_id"] == str(people["owner"].id)
    assert org.slug not in str(dict(server.attributes))  # the route, never the path
    assert server.attributes["http.target"] == "/o/<slug>/members"
    sql = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert sql and all(s.parent.span_id == server.context.span_id for s in sql)


def test_no_tracing_unless_configured(app):
    assert "tenantdesk.tracer_provider" not in app.extensions
