"""/healthz and /readyz: public, cheap, no tenant data, not rate-limited."""

from __future__ import annotations

import pytest

from dashboard.db import recording_statements
from tests import factories
from tests.conftest import make_app
from tests.helpers import login


@pytest.fixture
def statements(app):
    """Statements the app's own engine sends while the test runs."""
    with recording_statements(app.extensions["tenantdesk.db"].engine) as sent:
        yield sent


def test_healthz_answers_without_the_database_even_for_a_signed_in_browser(client, statements):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    statements.clear()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert statements == []


def test_readyz_checks_the_database_in_one_round_trip(client, statements):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"database": "ok"}}
    assert len(statements) == 2, statements  # SET LOCAL statement_timeout + alembic_version


def test_readyz_refuses_a_database_behind_this_codes_migrations(app, client):
    required = app.extensions["tenantdesk.required_revisions"]
    app.extensions["tenantdesk.required_revisions"] = required | {"9999_from_the_future"}
    try:
        response = client.get("/readyz")
    finally:
        app.extensions["tenantdesk.required_revisions"] = required
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "migrations missing: 9999_from_the_future"


def test_readyz_checks_redis_when_configured(database_urls, tmp_path):
    up = make_app(database_urls, tmp_path / "up", REDIS_URL="redis://127.0.0.1:6379/15")
    down = make_app(database_urls, tmp_path / "down", REDIS_URL="redis://127.0.0.1:9/0")
    try:
        ok = up.test_client().get("/readyz")
        refused = down.test_client().get("/readyz")
    finally:
        for app in (up, down):
            app.extensions["tenantdesk.db"].dispose()
    assert ok.status_code == 200 and ok.get_json()["checks"]["redis"] == "ok"
    assert refused.status_code == 503
    assert refused.get_json() == {
        "status": "unavailable", "checks": {"database": "ok", "redis": "unreachable"}}


def test_probes_are_never_rate_limited(database_urls, tmp_path):
    app = make_app(database_urls, tmp_path, LOGIN_RATE_LIMIT="2/minute")
    try:
        client = app.test_client()
        codes = {client.get(path).status_code for path in ["/healthz", "/readyz"] * 100}
    finally:
        app.extensions["tenantdesk.db"].dispose()
    assert codes == {200}
