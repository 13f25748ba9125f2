"""POST /api/v1/usage/events: strict validation, all-or-nothing, retries, quotas."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests import factories
from tests.helpers import csrf_token, login

URL = "/api/v1/usage/events"


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def event(metric="api_calls", quantity=1, at=None, key=None, **extra):
    return {"metric": metric, "quantity": quantity, "timestamp": iso(at or datetime.now(UTC)),
            "idempotency_key": key or factories.unique("k"), **extra}


@pytest.fixture
def owner_client(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.execute("UPDATE organizations SET plan = 'enterprise' WHERE id = :o", o=org.id)
    login(client, people["owner"])
    client.csrf = csrf_token(client, "/switcher")
    client.org = org
    return client


def send(client, body, *, raw: bytes | None = None, csrf=True, content_type="application/json"):
    headers = {"X-CSRFToken": client.csrf} if csrf else {}
    data = raw if raw is not None else json.dumps(body)
    return client.post(URL, data=data, headers=headers, content_type=content_type)


def stored(org, metric=None):
    sql = "SELECT count(*) FROM usage_events WHERE org_id = :o"
    if metric:
        sql += " AND metric = :m"
    return factories.execute(sql, o=org.id, m=metric).scalar_one()


def totals(org, metric):
    return factories.execute(
        "SELECT coalesce(sum(total), 0) FROM usage_daily WHERE org_id = :o AND metric = :m",
        o=org.id, m=metric).scalar_one()


def test_a_batch_is_recorded_and_a_retry_counts_nothing(owner_client):
    org = owner_client.org
    body = {"events": [event("storage_bytes", 5000, key="s1"), event("seats", 3, key="s2"),
                       event("active_users", 1, key="u1"), event("api_calls", 40, key="c1")]}
    first = send(owner_client, body)
    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {"accepted": 4, "duplicates": 0, "quota_warnings": []}
    second = send(owner_client, body)
    assert second.get_json()["accepted"] == 0 and second.get_json()["duplicates"] == 4
    assert totals(org, "storage_bytes") == 5000 and totals(org, "seats") == 3
    # 40 reported + the two requests themselves, each one metered API call.
    assert totals(org, "api_calls") == 42
    assert stored(org, "storage_bytes") == 1


BAD_EVENTS = [
    ("unknown_metric", event(metric="bananas")),
    ("unknown_metric", event(metric=["api_calls"])),
    ("invalid_quantity", event(quantity=-1)),
    ("invalid_quantity", event(quantity=1.5)),
    ("invalid_quantity", event(quantity="10")),
    ("invalid_quantity", event(quantity=True)),
    ("invalid_quantity", event(quantity=2**63)),
    # An hour ahead: still past the 5-minute skew however late in the run this case executes.
    ("timestamp_in_future", event(at=datetime.now(UTC) + timedelta(hours=1))),
    ("timestamp_too_old", event(at=datetime.now(UTC) - timedelta(days=36))),
    ("invalid_timestamp", {**event(), "timestamp": "2026-11-23T10:00:00"}),  # no offset
    ("invalid_timestamp", {**event(), "timestamp": "yesterday"}),
    ("invalid_timestamp", {**event(), "timestamp": 1764000000}),
    ("invalid_idempotency_key", {**event(), "idempotency_key": ""}),
    ("invalid_idempotency_key", {**event(), "idempotency_key": "x" * 201}),
    ("invalid_idempotency_key", {**event(), "idempotency_key": "a\nb"}),
    ("invalid_idempotency_key", {**event(), "idempotency_key": 7}),
    ("invalid_event", event(colour="red")),
    ("invalid_event", {"metric": "api_calls", "quantity": 1}),
    ("invalid_event", "api_calls"),
]


@pytest.mark.parametrize(("code", "bad"), BAD_EVENTS)
def test_a_malformed_event_refuses_the_whole_batch(owner_client, code, bad):
    body = {"events": [event(key="good-1"), bad, event(key="good-2")]}
    response = send(owner_client, body)
    assert 400 <= response.status_code < 500
    error = response.get_json()["error"]
    assert error["code"] == code and "events[1]" in error["message"]
    assert stored(owner_client.org) == 0
    assert totals(owner_client.org, "api_calls") == 0  # not even the metered request


@pytest.mark.parametrize(
    ("body", "code", "status"),
    [
        ({"events": []}, "invalid_batch", 422),
        ({"events": {}}, "invalid_batch", 400),
        ([event()], "invalid_batch", 400),
        ({"events": [event()], "extra": 1}, "invalid_batch", 422),
        ({"events": [event(key="same"), event(key="same")]}, "duplicate_idempotency_key", 422),
        ({"events": [event() for _ in range(1001)]}, "too_many_events", 413),
    ],
)
def test_malformed_batches_are_refused(owner_client, body, code, status):
    response = send(owner_client, body)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert stored(owner_client.org) == 0


def test_not_json_is_refused(owner_client):
    for raw, content_type in ((b"{not json", "application/json"),
                              (b"events=1", "application/x-www-form-urlencoded")):
        response = send(owner_client, None, raw=raw, content_type=content_type)
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_batch"
    assert stored(owner_client.org) == 0


def test_a_10_mb_body_is_refused_fast_with_413(owner_client):
    huge = json.dumps({"events": [event()], "pad": "x" * (10 * 1024 * 1024)}).encode()
    started = time.perf_counter()
    response = send(owner_client, None, raw=huge)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"
    assert time.perf_counter() - started < 1.0
    assert stored(owner_client.org) == 0


def test_without_the_csrf_header_nothing_is_stored(owner_client):
    response = send(owner_client, {"events": [event()]}, csrf=False)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"
    assert stored(owner_client.org) == 0


def test_signed_out_callers_get_401_json(client):
    response = client.post(URL, json={"events": [event()]})
    assert response.status_code in (400, 401)  # CSRF or sign-in: refused either way
    assert "error" in response.get_json()


def test_members_may_not_report_usage(client):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["bob"])
    response = client.post(URL, json={"events": [event()]},
                           headers={"X-CSRFToken": csrf_token(client, "/switcher")})
    assert response.status_code == 403
    assert stored(org) == 0


def test_past_a_hard_quota_the_api_answers_429_and_stores_nothing(client):
    org, people = factories.org_with_members(owner="owner")  # the free plan
    limit = factories.plan_quota("free", "api_calls")
    factories.usage_daily(org, "api_calls", datetime.now(UTC).date(), limit - 1)
    login(client, people["owner"])
    client.csrf = csrf_token(client, "/switcher")
    assert send(client, {"events": [event("storage_bytes", 2)]}).status_code == 200  # the last
    response = send(client, {"events": [event("storage_bytes", 3)]})
    assert response.status_code == 429
    error = response.get_json()["error"]
    assert error["code"] == "quota_exceeded" and error["metric"] == "api_calls"
    assert error["period"] == "month" and error["used"] == limit + 1
    assert "per month" in error["message"] and int(response.headers["Retry-After"]) > 0
    assert stored(org, "storage_bytes") == 1 and totals(org, "api_calls") == limit


def test_levels_past_a_hard_quota_are_recorded_and_flagged(client):
    org, people = factories.org_with_members(owner="owner")
    limit = factories.plan_quota("free", "seats")
    login(client, people["owner"])
    client.csrf = csrf_token(client, "/switcher")
    response = send(client, {"events": [event("seats", limit + 2)]})
    assert response.status_code == 200
    [warning] = response.get_json()["quota_warnings"]
    assert warning["metric"] == "seats" and warning["hard"] and warning["exceeded"]
    assert warning["period"] == "current" and warning["used"] == limit + 2
    assert totals(org, "seats") == limit + 2


def test_a_soft_api_quota_lets_calls_through_and_warns(client):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "growth")
    limit = factories.plan_quota("growth", "api_calls")
    factories.usage_daily(org, "api_calls", datetime.now(UTC).date(), limit)
    login(client, people["owner"])
    client.csrf = csrf_token(client, "/switcher")
    response = send(client, {"events": [event("api_calls", 5)]})
    assert response.status_code == 200
    [warning] = response.get_json()["quota_warnings"]
    assert warning["metric"] == "api_calls" and not warning["hard"] and warning["exceeded"]
    assert totals(org, "api_calls") == limit + 6


# ------------------------------------------------------------------------------ bearer tokens


def access_token(client) -> str:
    response = client.post("/auth/token", headers={"X-CSRFToken": csrf_token(client, "/switcher")})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["access_token"]


def test_a_bearer_access_token_needs_no_csrf_header(client, app):
    org, people = factories.org_with_members(owner="owner", bob="member")
    factories.execute("UPDATE organizations SET plan = 'enterprise' WHERE id = :o", o=org.id)
    login(client, people["owner"])
    token = access_token(client)
    api = app.test_client()  # no cookie at all: the token alone speaks
    body = json.dumps({"events": [event("seats", 7, key="bearer-1")]})
    response = api.post(URL, data=body, content_type="application/json",
                        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["accepted"] == 1 and stored(org, "seats") == 1
    bad = api.post(URL, data=body, content_type="application/json",
                   headers={"Authorization": "Bearer x.y.z"})
    assert bad.status_code == 401 and stored(org, "seats") == 1


def test_a_members_bearer_token_may_not_report_usage(client, app):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["bob"])
    token = access_token(client)
    response = app.test_client().post(
        URL, data=json.dumps({"events": [event()]}), content_type="application/json",
        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and stored(org) == 0


def test_admins_get_one_mail_per_period_at_80_percent(client, mail_server):
    org, people = factories.org_with_members(owner="owner", ada="admin", bob="member")
    factories.put_on_plan(org, "growth")
    limit = factories.plan_quota("growth", "api_calls")
    factories.usage_daily(org, "api_calls", datetime.now(UTC).date(), limit * 79 // 100)
    login(client, people["owner"])
    client.csrf = csrf_token(client, "/switcher")
    assert send(client, {"events": [event("api_calls", 5)]}).status_code == 200
    assert mail_server.messages == []  # 79 % and a bit: no mail yet
    assert send(client, {"events": [event("api_calls", limit // 100)]}).status_code == 200
    for person in ("owner", "ada"):
        message = mail_server.last(to=people[person].email)
        assert "API calls at 80 %" in message["Subject"]
        text = mail_server.text(message)
        assert f"/o/{org.slug}/usage" in text and "soft limit" in text
    assert mail_server.to(people["bob"].email) == []
    assert send(client, {"events": [event("api_calls", limit // 100)]}).status_code == 200
    assert len(mail_server.messages) == 2  # once per period, not per batch
