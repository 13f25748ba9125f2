"""Org B's usage never reaches org A: through RLS, not through filters.

B's events and rollups are written as a superuser with marker values. A's page, CSV, JSON
and API are then read; and the service itself is asked for B's org id while acting for A,
which only RLS can answer with nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dashboard import tenancy
from dashboard.usage import reports, service
from dashboard.usage.metrics import METRICS
from dashboard.usage.service import EventIn
from tests import factories
from tests.helpers import csrf_token, login

NOW = datetime.now(UTC)
TODAY = NOW.date()
MARKER = 987_654_321  # appears only in B's data
MARKER_TEXT = ("987654321", "987,654,321", "941.9 MiB")


@pytest.fixture
def orgs():
    org_a, people_a = factories.org_with_members(owner="owner")
    org_b, people_b = factories.org_with_members(owner="owner")
    for org in (org_a, org_b):  # every range, 90 and 365 days included
        factories.FeatureOverrideFactory(org_id=org.id, feature="advanced-analytics")
    factories.execute(
        "INSERT INTO usage_daily (org_id, metric, day, total)"
        " SELECT :b, m, CAST(:today AS date) - d, :marker"
        " FROM unnest(CAST(:metrics AS text[])) m, generate_series(0, 399, 7) d",
        b=org_b.id, today=TODAY, marker=MARKER, metrics=list(METRICS),
    )
    for metric in METRICS:
        factories.usage_event(org_b, metric, MARKER, NOW, key=f"b-secret-{metric}")
    factories.usage_daily(org_a, "api_calls", TODAY, 11)
    return (org_a, people_a["owner"]), (org_b, people_b["owner"])


def acting(runtime_sessions, org, user):
    return tenancy.scoped_session(
        runtime_sessions, tenancy.TenantContext(user_id=user.id, org_id=org.id)
    )


def assert_no_marker(body: str):
    for marker in MARKER_TEXT:
        assert marker not in body


@pytest.mark.parametrize("days", reports.RANGES)
def test_a_page_csv_and_json_show_none_of_bs_usage(client, orgs, days):
    (org_a, owner_a), (org_b, _) = orgs
    login(client, owner_a)
    for path in (f"usage?range={days}", f"usage.csv?range={days}",
                 f"usage/data.json?range={days}", ""):
        response = client.get(f"/o/{org_a.slug}/{path}")
        assert response.status_code == 200, path
        assert_no_marker(response.get_data(as_text=True))
    data = client.get(f"/o/{org_a.slug}/usage/data.json?range={days}").get_json()
    api = next(m for m in data["metrics"] if m["metric"] == "api_calls")
    assert api["total"] == 11


def test_the_service_returns_nothing_for_b_while_acting_for_a(runtime_sessions, orgs):
    (org_a, owner_a), (org_b, _) = orgs
    with acting(runtime_sessions, org_a, owner_a) as session:
        report = reports.usage_report(session, org_b.id, 365)  # B's id, A's context
        for item in report.metrics:
            assert item.total in (0, None), item.metric.name
            assert {p.value for p in item.points} <= {0, None}
        assert session.scalar(
            text("SELECT count(*) FROM usage_daily WHERE org_id = :b"), {"b": org_b.id}
        ) == 0
        assert session.scalar(
            text("SELECT count(*) FROM usage_events WHERE idempotency_key LIKE 'b-secret-%'")
        ) == 0


def test_a_cannot_write_usage_into_b(runtime_sessions, orgs):
    (org_a, owner_a), (org_b, _) = orgs
    with pytest.raises(DBAPIError, match="row-level security"), \
            acting(runtime_sessions, org_a, owner_a) as session:
        service.record_batch(session, org_b.id, [EventIn("api_calls", 1, NOW, "forged")])
    with acting(runtime_sessions, org_a, owner_a) as session:
        assert session.execute(
            text("UPDATE usage_daily SET total = 0 WHERE org_id = :b"), {"b": org_b.id}
        ).rowcount == 0


def test_reusing_bs_idempotency_key_in_a_counts_for_a_only(runtime_sessions, orgs):
    (org_a, owner_a), (org_b, _) = orgs
    with acting(runtime_sessions, org_a, owner_a) as session:
        assert service.record_usage(session, org_a.id, "seats", 2, NOW, "b-secret-seats")
    assert factories.execute(
        "SELECT count(*) FROM usage_events WHERE idempotency_key = 'b-secret-seats'"
        " AND org_id IN (:a, :b)", a=org_a.id, b=org_b.id,
    ).scalar_one() == 2


def test_the_api_records_into_the_sessions_org_only(client, orgs):
    (org_a, owner_a), (org_b, _) = orgs
    login(client, owner_a)
    body = {"events": [{"metric": "seats", "quantity": 4,
                        "timestamp": NOW.isoformat(), "idempotency_key": "b-secret-api_calls"}]}
    response = client.post("/api/v1/usage/events", data=json.dumps(body),
                           content_type="application/json",
                           headers={"X-CSRFToken": csrf_token(client, "/switcher")})
    assert response.status_code == 200
    assert response.get_json()["accepted"] == 1  # B's key is no duplicate in A
    assert_no_marker(response.get_data(as_text=True))
    b_rows = factories.execute(
        "SELECT count(*) FROM usage_events WHERE org_id = :b", b=org_b.id).scalar_one()
    assert b_rows == len(METRICS)


def test_bs_usage_url_answers_404_for_a(client, orgs):
    (org_a, owner_a), (org_b, _) = orgs
    login(client, owner_a)
    for path in ("usage", "usage.csv", "usage/data.json"):
        response = client.get(f"/o/{org_b.slug}/{path}")
        assert response.status_code == 404
        assert_no_marker(response.get_data(as_text=True))
