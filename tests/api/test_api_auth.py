"""Bearer authentication of /api/v1/: every refusal is a clear JSON 401/403, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.apikeys import tokens
from tests import factories
from tests.api.conftest import api_org, bearer
from tests.helpers import bearer_headers, login


def assert_json_error(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    assert "Traceback" not in response.get_data(as_text=True)
    return body["error"]


def test_the_org_comes_from_the_key(client, org_key):
    org, _, headers = org_key
    response = client.get("/api/v1/org", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {
        "id": str(org.id), "slug": org.slug, "name": org.name, "plan": org.plan,
        "status": "active", "member_count": 3, "metadata": {},
    }


@pytest.fixture
def refused_keys():
    org, _ = api_org()
    suspended, _ = api_org()
    live, _ = factories.api_key(org, ["members:read"])
    revoked, _ = factories.api_key(org, ["members:read"], revoked=True)
    expired, _ = factories.api_key(
        org, ["members:read"], expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    of_suspended, _ = factories.api_key(suspended, ["members:read"])
    factories.execute("UPDATE organizations SET status = 'suspended' WHERE id = :o",
                      o=suspended.id)
    parsed = tokens.parse(live)
    _, other_secret, _ = tokens.generate()
    _, _, unknown_prefix = tokens.generate()
    return {
        "revoked": (revoked, "api_key_revoked"),
        "expired": (expired, "api_key_expired"),
        "suspended-org": (of_suspended, "org_inactive"),
        "wrong-secret": (f"td_live_{parsed.prefix}_{other_secret}", "invalid_api_key"),
        "wrong-prefix": (unknown_prefix, "invalid_api_key"),
        "test-prefix": (live.replace("td_live_", "td_test_"), "invalid_api_key"),
        "truncated": (live[:-1], "invalid_api_key"),
        "malformed": ("td_live_%27%20OR%201=1", "invalid_api_key"),
        "garbage-jwt": ("eyJhbGciOiJub25lIn0.e30.", "invalid_token"),
        "huge": ("td_" + "a" * 10000, "invalid_token"),
    }


CASES = ["revoked", "expired", "suspended-org", "wrong-secret", "wrong-prefix", "test-prefix",
         "truncated", "malformed", "garbage-jwt", "huge"]


@pytest.mark.parametrize("case", CASES)
def test_refused_credentials_get_a_clear_401(client, refused_keys, case):
    token, code = refused_keys[case]
    for method, path in [("GET", "/api/v1/org"), ("GET", "/api/v1/nothing-here")]:
        response = client.open(path, method=method, headers=bearer(token))
        error = assert_json_error(response, 401, code)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if case in ("revoked", "expired", "suspended-org"):
        assert case.split("-")[0] in error["message"]


def test_missing_or_non_bearer_credentials_are_401(client):
    assert_json_error(client.get("/api/v1/org"), 401, "missing_credentials")
    assert_json_error(
        client.get("/api/v1/org", headers={"Authorization": "Basic dXNlcjpwYXNz"}),
        401, "missing_credentials",
    )
    assert_json_error(client.get("/api/v1/org", headers={"Authorization": "Bearer "}),
                      401, "missing_credentials")


def test_a_browser_session_cookie_is_not_an_api_credential(client):
    org, people = api_org()
    login(client, people["owner"])
    assert client.get(f"/o/{org.slug}/").status_code == 200  # signed in for the browser
    assert_json_error(client.get("/api/v1/org"), 401, "missing_credentials")


def test_with_a_bearer_key_the_cookie_is_ignored(client):
    org_a, people_a = api_org()
    org_b, _ = api_org()
    key_b, _ = factories.api_key(org_b, [])
    login(client, people_a["owner"])  # cookie of org A ...
    body = client.get("/api/v1/org", headers=bearer(key_b)).get_json()
    assert body["id"] == str(org_b.id)  # ... the key of org B decides


def test_a_key_revoked_mid_stream_fails_on_its_next_request(client, org_key):
    org, _, headers = org_key
    assert client.get("/api/v1/org", headers=headers).status_code == 200
    factories.execute("UPDATE org_credentials SET revoked_at = now() WHERE org_id = :o",
                      o=org.id)
    assert_json_error(client.get("/api/v1/org", headers=headers), 401, "api_key_revoked")


def test_last_used_is_recorded_once_per_minute(client):
    org, _ = api_org()
    plaintext, key_id = factories.api_key(org, [])

    def last_used():
        return factories.execute(
            "SELECT last_used_at FROM org_credentials WHERE id = :k", k=key_id
        ).scalar_one()

    assert last_used() is None
    client.get("/api/v1/org", headers=bearer(plaintext))
    first = last_used()
    assert first is not None
    client.get("/api/v1/org", headers=bearer(plaintext))
    client.get("/api/v1/nothing-here", headers=bearer(plaintext))  # a 404 still counts as use
    assert last_used() == first


def test_unknown_api_paths_and_methods_answer_json(client, org_key):
    _, _, headers = org_key
    assert_json_error(client.get("/api/v1/no/such/thing", headers=headers), 404)
    assert_json_error(client.delete("/api/v1/org", headers=headers), 405)
    assert_json_error(client.get("/api/v1/no/such/thing"), 404)


def test_a_plan_without_api_access_is_refused_with_403(client):
    org, _ = factories.org_with_members(owner="owner")  # the free plan: no api-access
    key, _ = factories.api_key(org, ["members:read"])
    error = assert_json_error(client.get("/api/v1/org", headers=bearer(key)), 403,
                              "feature_not_included")
    assert "plan" in error["message"]
    factories.put_on_plan(org, "starter")
    assert client.get("/api/v1/org", headers=bearer(key)).status_code == 200


def test_a_key_without_the_scope_gets_403(client):
    org, _ = api_org()
    key, _ = factories.api_key(org, ["members:read"])
    error = assert_json_error(client.get("/api/v1/usage/series", headers=bearer(key)), 403,
                              "insufficient_scope")
    assert "usage:read" in error["message"]
    assert client.get("/api/v1/org", headers=bearer(key)).status_code == 200  # org:read


def test_a_users_access_token_works_within_the_users_permissions(client):
    org, people = api_org(owner="owner", bob="member")
    login(client, people["bob"])
    headers = bearer_headers(client)
    body = client.get("/api/v1/org", headers=headers).get_json()
    assert body["id"] == str(org.id)
    # A member may read usage (usage.view) but not send events (usage.report).
    assert client.get("/api/v1/usage/series", headers=headers).status_code == 200
    error = assert_json_error(
        client.post("/api/v1/usage/events", json={"events": []}, headers=headers),
        403, "insufficient_scope",
    )
    assert "usage.report" in error["message"]
    # Removed from the org: the same token is refused on its next call.
    factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=people["bob"].id)
    assert client.get("/api/v1/org", headers=headers).status_code == 401


def test_csrf_is_skipped_only_when_no_cookie_can_authenticate(client):
    org, people = api_org(owner="owner")
    body = {"events": [{"metric": "seats", "quantity": 1, "idempotency_key": "k1",
                        "timestamp": datetime.now(UTC).isoformat()}]}
    # No cookie, no bearer: nobody to impersonate -> 401, not a CSRF error.
    assert_json_error(client.post("/api/v1/usage/events", json=body), 401)
    # Signed in with the cookie: the same call without the CSRF header is refused ...
    login(client, people["owner"])
    refused = client.post("/api/v1/usage/events", json=body)
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "csrf_failed"
    # ... while a Bearer key is enough on its own (the cookie is then not read at all).
    key, _ = factories.api_key(org, ["usage:write"])
    assert client.post("/api/v1/usage/events", json=body, headers=bearer(key)).status_code == 200
