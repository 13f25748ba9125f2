"""Bad input to /api/v1/ - wrong types, huge bodies, unknown fields, malformed JSON, invalid
cursors - gets a 4xx JSON error and changes nothing."""

from __future__ import annotations

import pytest

from tests import factories
from tests.api.conftest import all_scopes, api_org, bearer

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def org_key_people():
    org, people = api_org(owner="owner", bob="member")
    key, _ = factories.api_key(org, all_scopes())
    return org, people, bearer(key)


def state(org):
    return factories.execute(
        "SELECT (SELECT count(*) FROM invitations WHERE org_id = :o),"
        " (SELECT string_agg(role, ',' ORDER BY user_id) FROM memberships WHERE org_id = :o),"
        " (SELECT count(*) FROM audit_events WHERE org_id = :o),"
        " (SELECT count(*) FROM usage_events WHERE org_id = :o AND metric <> 'api_calls')",
        o=org.id,
    ).one()


def cases(people):
    bob = people["bob"].id
    big = "x" * TEN_MB
    return [
        # wrong types
        ("PATCH", f"/api/v1/members/{bob}", {"json": {"role": 7}}, 422),
        ("PATCH", f"/api/v1/members/{bob}", {"json": ["admin"]}, 422),
        ("POST", "/api/v1/invitations", {"json": {"emails": "a@example.com"}}, 422),
        ("POST", "/api/v1/invitations", {"json": {"emails": [None]}}, 422),
        ("POST", "/api/v1/invitations", {"json": {"emails": ["not an email"]}}, 422),
        ("POST", "/api/v1/usage/events", {"json": {"events": [{"metric": "seats",
          "quantity": "10", "timestamp": "2020-01-01T00:00:00Z", "idempotency_key": "k"}]}},
         422),
        ("GET", "/api/v1/members?limit=abc", {}, 400),
        ("GET", "/api/v1/members?limit=0", {}, 400),
        ("GET", "/api/v1/members?limit=5&limit=6", {}, 400),
        ("GET", "/api/v1/usage/series?range=31", {}, 400),
        ("GET", "/api/v1/audit/events?since=yesterday", {}, 400),
        # unknown fields and parameters
        ("PATCH", f"/api/v1/members/{bob}", {"json": {"role": "admin", "admin": True}}, 422),
        ("POST", "/api/v1/invitations", {"json": {"emails": ["a@example.com"],
                                                  "role": "member", "seats": 99}}, 422),
        ("GET", "/api/v1/members?include=everything", {}, 400),
        # malformed or mislabelled bodies
        ("PATCH", f"/api/v1/members/{bob}", {"data": "{role: admin", "content_type":
                                              "application/json"}, 400),
        ("PATCH", f"/api/v1/members/{bob}", {"data": "role=admin"}, 415),
        ("POST", "/api/v1/invitations", {"data": "", "content_type": "application/json"}, 400),
        # 10 MB bodies
        ("POST", "/api/v1/invitations", {"data": '{"emails": ["' + big + '"]}',
                                         "content_type": "application/json"}, 413),
        ("POST", "/api/v1/usage/events", {"data": big, "content_type": "application/json"},
         413),
        ("PATCH", f"/api/v1/members/{bob}", {"data": big, "content_type": "application/json"},
         413),
        # invalid cursors
        ("GET", "/api/v1/members?cursor=eyJ9.forged", {}, 400),
        ("GET", "/api/v1/audit/events?cursor=" + "A" * 900, {}, 400),
        ("GET", "/api/v1/invitations?cursor=%00%01", {}, 400),
    ]


def test_bad_input_is_a_4xx_json_error_and_changes_nothing(client, org_key_people):
    org, people, headers = org_key_people
    before = state(org)
    problems = []
    for method, path, kwargs, expected in cases(people):
        response = client.open(path, method=method, headers=headers, **kwargs)
        body = response.get_json(silent=True) or {}
        error = body.get("error", {})
        if (response.status_code != expected or response.mimetype != "application/json"
                or not error.get("code") or not error.get("message")
                or "Traceback" in response.get_data(as_text=True)):
            problems.append(f"{method} {path[:60]} -> {response.status_code} {body}"[:300])
    assert not problems, "\n".join(problems)
    assert state(org) == before


def test_an_invalid_cursor_from_another_list_or_org_is_refused(client, org_key_people):
    org, _, headers = org_key_people
    other, _ = api_org(owner="owner", a="member", b="member")
    other_key, _ = factories.api_key(other, all_scopes())
    foreign = client.get("/api/v1/members?limit=1", headers=bearer(other_key)).get_json()
    assert foreign["next_cursor"]
    for path in [f"/api/v1/members?limit=1&cursor={foreign['next_cursor']}",
                 f"/api/v1/audit/events?cursor={foreign['next_cursor']}"]:
        response = client.get(path, headers=headers)
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_cursor"
