"""Rate limits by plan, per org and per credential (in-memory store here; Redis in
test_rate_limits_redis.py): 429 with Retry-After and RateLimit-* headers, keyed by the
credential so X-Forwarded-For cannot reset them."""

from __future__ import annotations

import pytest

from tests import factories
from tests.api.conftest import api_org, bearer

LIMIT = 5


@pytest.fixture
def limited_app(app):
    return app  # limits come from each org's license (rate_limit_per_minute)


def limited_org():
    return api_org("enterprise", rate_limit_per_minute=LIMIT)


def test_the_limit_holds_and_the_429_says_when_to_retry(limited_app):
    client = limited_app.test_client()
    org, _ = limited_org()
    key, _ = factories.api_key(org, [])
    seen = []
    for i in range(LIMIT):
        response = client.get("/api/v1/org", headers=bearer(key),
                              environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
        assert response.status_code == 200
        seen.append(int(response.headers["RateLimit-Remaining"]))
        assert response.headers["RateLimit-Limit"] == str(LIMIT)
        assert 0 <= int(response.headers["RateLimit-Reset"]) <= 60
    assert seen == list(range(LIMIT - 1, -1, -1))
    blocked = client.get("/api/v1/org", headers={**bearer(key), "X-Forwarded-For": "1.2.3.4"})
    assert blocked.status_code == 429
    assert blocked.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert blocked.headers["RateLimit-Remaining"] == "0"
    assert blocked.headers["RateLimit-Limit"] == str(LIMIT)


def test_rotating_forwarded_for_or_client_address_does_not_reset_it(limited_app):
    client = limited_app.test_client()
    org, _ = limited_org()
    key, _ = factories.api_key(org, [])
    statuses = [
        client.get(
            "/api/v1/org",
            headers={**bearer(key), "X-Forwarded-For": f"203.0.113.{i}", "X-Real-IP": str(i)},
            environ_base={"REMOTE_ADDR": f"198.51.100.{i}"},
        ).status_code
        for i in range(LIMIT + 3)
    ]
    assert statuses == [200] * LIMIT + [429] * 3


def test_keys_of_one_org_share_the_org_budget_and_other_orgs_are_unaffected(limited_app):
    client = limited_app.test_client()
    org, _ = limited_org()
    other, _ = limited_org()
    keys = [factories.api_key(org, [])[0] for _ in range(3)]
    other_key, _ = factories.api_key(other, [])
    statuses = [client.get("/api/v1/org", headers=bearer(keys[i % 3])).status_code
                for i in range(LIMIT + 2)]
    assert statuses == [200] * LIMIT + [429] * 2
    assert client.get("/api/v1/org", headers=bearer(other_key)).status_code == 200


def test_refused_calls_are_not_counted_against_anyone(limited_app):
    client = limited_app.test_client()
    org, _ = limited_org()
    key, _ = factories.api_key(org, [])
    for _ in range(LIMIT * 2):
        assert client.get("/api/v1/org", headers=bearer(key[:-2] + "zz")).status_code == 401
    assert client.get("/api/v1/org", headers=bearer(key)).status_code == 200


def test_the_plan_sets_the_limit(limited_app):
    client = limited_app.test_client()
    for plan, expected in [("starter", 100), ("growth", 500), ("scale", 1000)]:
        org, _ = api_org(plan)
        key, _ = factories.api_key(org, [])
        response = client.get("/api/v1/org", headers=bearer(key))
        assert response.headers["RateLimit-Limit"] == str(expected), plan
    org, _ = api_org("enterprise", rate_limit_per_minute=2500)  # enterprise: configurable
    key, _ = factories.api_key(org, [])
    assert client.get("/api/v1/org", headers=bearer(key)).headers["RateLimit-Limit"] == "2500"
