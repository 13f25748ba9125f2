"""Metadata through the JSON API: on the org (PATCH /org), on members (PATCH /members/<id>,
?metadata[key]=value on the list), on API keys (PATCH /api-keys/<id>, the same filter), on
usage events (ingested, then filtered series); every change audited so the events outbox
carries it; bad input refused and nothing stored."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from tests import factories
from tests.api.conftest import all_scopes, api_org, bearer

VERBATIM = "Zürich · ACME-0042 / <b>&amp;</b> ' \" ✓"


def org_rows(org) -> dict:
    rows = factories.execute("SELECT key, value FROM org_metadata WHERE org_id = :o", o=org.id)
    return {r.key: r.value for r in rows}


def member_rows(org, user) -> dict:
    rows = factories.execute("SELECT key, value FROM member_metadata"
                             " WHERE org_id = :o AND user_id = :u", o=org.id, u=user.id)
    return {r.key: r.value for r in rows}


def key_rows(key_id) -> dict:
    rows = factories.execute("SELECT key, value FROM api_key_metadata WHERE credential_id = :k",
                             k=key_id)
    return {r.key: r.value for r in rows}


def audits(org, action):
    return factories.execute(
        "SELECT target, details FROM audit_events WHERE org_id = :o AND action = :a ORDER BY seq",
        o=org.id, a=action).all()


def usage_event(key, quantity, metadata=None, metric="api_calls"):
    event = {"metric": metric, "quantity": quantity,
             "timestamp": datetime.now(UTC).isoformat(), "idempotency_key": key}
    if metadata is not None:
        event["metadata"] = metadata
    return event


def test_org_metadata_is_replaced_read_back_and_audited(client, org_key):
    org, _, headers = org_key
    assert client.get("/api/v1/org", headers=headers).get_json()["metadata"] == {}
    changed = client.patch("/api/v1/org", json={"metadata": {"crm_id": "42", "label": VERBATIM}},
                           headers=headers)
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["metadata"] == {"crm_id": "42", "label": VERBATIM}
    assert org_rows(org) == {"crm_id": "42", "label": VERBATIM}
    assert client.get("/api/v1/org", headers=headers).get_json()["metadata"] == org_rows(org)
    # The same map again changes nothing and writes no audit row (no empty event).
    client.patch("/api/v1/org", json={"metadata": {"label": VERBATIM, "crm_id": "42"}},
                 headers=headers)
    (row,) = audits(org, "org.update")
    assert row.target == f"org:{org.slug}"
    assert row.details["before"] == {"metadata": {}}
    assert row.details["after"] == {"metadata": {"crm_id": "42", "label": VERBATIM}}
    cleared = client.patch("/api/v1/org", json={"metadata": {}}, headers=headers)
    assert cleared.get_json()["metadata"] == {} and org_rows(org) == {}


def test_org_metadata_needs_org_write(client):
    org, _ = api_org(owner="owner")
    key, _ = factories.api_key(org, ["members:read"])
    refused = client.patch("/api/v1/org", json={"metadata": {"a": "b"}}, headers=bearer(key))
    assert refused.status_code == 403 and org_rows(org) == {}


def test_the_outbox_carries_the_metadata_change(client, org_key):
    """organization.updated and membership.updated events are built from the audit row."""
    from types import SimpleNamespace

    from dashboard.events.catalogue import payload, types_for

    org, people, headers = org_key
    _, key_id = factories.api_key(org, ["usage:write"])
    client.patch("/api/v1/org", json={"metadata": {"tier": "gold"}}, headers=headers)
    client.patch(f"/api/v1/members/{people['bob'].id}", json={"metadata": {"team": "ops"}},
                 headers=headers)
    client.patch(f"/api/v1/api-keys/{key_id}", json={"metadata": {"env": "prod"}},
                 headers=headers)
    for action, event_type, after in (("org.update", "organization.updated", {"tier": "gold"}),
                                      ("member.update", "membership.updated", {"team": "ops"}),
                                      ("apikey.update", "api_key.updated", {"env": "prod"})):
        assert [t.value for t in types_for(action)] == [event_type]
        row = factories.execute(
            "SELECT id, org_id, at, action, actor, target, details FROM audit_events"
            " WHERE org_id = :o AND action = :a", o=org.id, a=action).one()
        body = payload(event_type, SimpleNamespace(**row._mapping))
        assert body["data"]["details"]["after"] == {"metadata": after}
        assert body["data"]["details"]["before"] == {"metadata": {}}


def test_member_metadata_is_set_listed_and_filtered(client, org_key):
    org, people, headers = org_key
    bob, admin = people["bob"], people["admin"]
    set_bob = client.patch(f"/api/v1/members/{bob.id}",
                           json={"metadata": {"tenant_id": "t-1", "label": VERBATIM}},
                           headers=headers)
    assert set_bob.status_code == 200, set_bob.get_json()
    assert set_bob.get_json()["metadata"] == {"tenant_id": "t-1", "label": VERBATIM}
    assert set_bob.get_json()["role"]["key"] == "member"  # untouched
    client.patch(f"/api/v1/members/{admin.id}", json={"metadata": {"tenant_id": "t-2"}},
                 headers=headers)
    assert member_rows(org, bob) == {"tenant_id": "t-1", "label": VERBATIM}

    listed = client.get("/api/v1/members", headers=headers).get_json()["items"]
    by_id = {m["user_id"]: m["metadata"] for m in listed}
    assert by_id[str(bob.id)] == {"tenant_id": "t-1", "label": VERBATIM}
    assert by_id[str(people["owner"].id)] == {}
    found = client.get("/api/v1/members", query_string={"metadata[tenant_id]": "t-1"},
                       headers=headers).get_json()["items"]
    assert [m["user_id"] for m in found] == [str(bob.id)]
    assert client.get("/api/v1/members", query_string={"metadata[tenant_id]": "t"},
                      headers=headers).get_json()["items"] == []
    one = client.get(f"/api/v1/members/{bob.id}", headers=headers).get_json()
    assert one["metadata"] == {"tenant_id": "t-1", "label": VERBATIM}
    (row,) = audits(org, "member.update")[:1]
    assert row.target == f"user:{bob.email}"


def test_a_member_filter_pages_with_its_own_cursor(client):
    roles = {f"m{i}": "member" for i in range(5)}
    org, people = api_org(owner="owner", **roles)
    key, _ = factories.api_key(org, all_scopes())
    for label in ("m0", "m1", "m2", "m3"):
        client.patch(f"/api/v1/members/{people[label].id}", json={"metadata": {"g": "x"}},
                     headers=bearer(key))
    seen, cursor = [], None
    while True:
        query = {"limit": 3, "metadata[g]": "x", **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/members", query_string=query, headers=bearer(key)).get_json()
        seen += [m["user_id"] for m in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(str(people[f"m{i}"].id) for i in range(4))
    first = client.get("/api/v1/members", query_string={"limit": 3, "metadata[g]": "x"},
                       headers=bearer(key)).get_json()["next_cursor"]
    other = client.get("/api/v1/members", query_string={"limit": 3, "cursor": first},
                       headers=bearer(key))
    assert other.status_code == 400  # a cursor continues only its own filter


def test_role_and_metadata_together_and_all_or_nothing(client, org_key):
    org, people, headers = org_key
    bob = people["bob"]
    both = client.patch(f"/api/v1/members/{bob.id}",
                        json={"role": "admin", "metadata": {"a": "1"}}, headers=headers)
    assert both.status_code == 200 and both.get_json()["role"]["key"] == "admin"
    # A refused role change stores no metadata either (an API key never touches an owner).
    owner = people["owner"]
    refused = client.patch(f"/api/v1/members/{owner.id}",
                           json={"role": "member", "metadata": {"a": "2"}}, headers=headers)
    assert refused.status_code in (400, 403, 409)
    assert member_rows(org, owner) == {}


BAD = [
    ({f"k{n}": "v" for n in range(21)}, "at most 20 keys"),
    ({"crm_id": "x" * 501}, "longer than 500"),
    ({"bad key!": "v"}, "is not valid"),
    ({"": "v"}, "is not valid"),
    ({"crm_id": 42}, "must be a string"),
    ({"crm_id": None}, "must be a string"),
    ({"crm_id": ["a"]}, "must be a string"),
    ({"crm_id": "line\nbreak"}, "control characters"),
    ({"crm_id": "bell\u0007"}, "control characters"),
    ("crm_id=1", "must be an object"),
    (None, "must be an object"),
]


def _guarded(metadata) -> bool:
    """A control character other than a line break never reaches the metadata rules: the
    request-wide input guard (dashboard/inputguard.py) refuses it first, with a 400."""
    return "\\u0007" in json.dumps(metadata)


def _refused_by_guard(response) -> None:
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input" and "control character" in error["message"], error


@pytest.mark.parametrize(("metadata", "says"), BAD)
def test_bad_org_and_member_metadata_is_refused_and_changes_nothing(client, org_key, metadata,
                                                                    says):
    org, people, headers = org_key
    bob = people["bob"]
    _, key_id = factories.api_key(org, ["usage:write"])
    client.patch("/api/v1/org", json={"metadata": {"keep": "1"}}, headers=headers)
    client.patch(f"/api/v1/members/{bob.id}", json={"metadata": {"keep": "2"}}, headers=headers)
    client.patch(f"/api/v1/api-keys/{key_id}", json={"metadata": {"keep": "3"}},
                 headers=headers)
    for url in ("/api/v1/org", f"/api/v1/members/{bob.id}", f"/api/v1/api-keys/{key_id}"):
        response = client.patch(url, json={"metadata": metadata}, headers=headers)
        if _guarded(metadata):
            _refused_by_guard(response)
            continue
        assert response.status_code == 422, (url, response.get_json())
        error = response.get_json()["error"]
        assert error["code"] == "validation_error" and says in error["message"], error
    assert org_rows(org) == {"keep": "1"} and member_rows(org, bob) == {"keep": "2"}
    assert key_rows(key_id) == {"keep": "3"}


def test_an_empty_member_change_is_refused(client, org_key):
    _, people, headers = org_key
    response = client.patch(f"/api/v1/members/{people['bob'].id}", json={}, headers=headers)
    assert response.status_code == 422
    assert "role, metadata or both" in response.get_json()["error"]["message"]


def test_api_key_metadata_is_set_listed_filtered_and_audited(client, org_key):
    org, people, headers = org_key
    ops, _ = factories.api_key(org, ["usage:write"], name="ops key",
                               created_by=people["owner"])
    _, ops_id = ops, factories.execute(
        "SELECT id FROM org_credentials WHERE org_id = :o AND name = 'ops key'",
        o=org.id).scalar_one()
    _, gone_id = factories.api_key(org, ["usage:read"], name="old key", revoked=True)
    before = factories.execute("SELECT name, scopes, expires_at, revoked_at FROM org_credentials"
                               " WHERE id = :k", k=ops_id).one()
    changed = client.patch(f"/api/v1/api-keys/{ops_id}",
                           json={"metadata": {"tenant_id": "t-1", "label": VERBATIM}},
                           headers=headers)
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert body["metadata"] == {"tenant_id": "t-1", "label": VERBATIM}
    assert body["name"] == "ops key" and body["scopes"] == ["usage:write"]
    assert body["status"] == "active" and body["created_by"] == people["owner"].email
    assert body["prefix"].startswith("td_") and "secret" not in json.dumps(body)
    assert key_rows(ops_id) == {"tenant_id": "t-1", "label": VERBATIM}
    # Only the metadata changed: name, scopes, expiry and revocation stand.
    assert factories.execute("SELECT name, scopes, expires_at, revoked_at FROM org_credentials"
                             " WHERE id = :k", k=ops_id).one() == before
    # A revoked key's bookkeeping may change too; it stays revoked.
    old = client.patch(f"/api/v1/api-keys/{gone_id}", json={"metadata": {"tenant_id": "t-2"}},
                       headers=headers)
    assert old.status_code == 200 and old.get_json()["status"] == "revoked"

    listed = client.get("/api/v1/api-keys", headers=headers).get_json()
    by_id = {k["id"]: k["metadata"] for k in listed["items"]}
    assert by_id[str(ops_id)]["tenant_id"] == "t-1" and len(by_id) == 3
    found = client.get("/api/v1/api-keys", query_string={"metadata[tenant_id]": "t-1"},
                       headers=headers).get_json()["items"]
    assert [k["id"] for k in found] == [str(ops_id)]
    assert client.get("/api/v1/api-keys", query_string={"metadata[tenant_id]": "t"},
                      headers=headers).get_json()["items"] == []
    one = client.get(f"/api/v1/api-keys/{ops_id}", headers=headers).get_json()
    assert one["metadata"] == {"tenant_id": "t-1", "label": VERBATIM}
    # The same map again writes nothing; {} clears it.
    client.patch(f"/api/v1/api-keys/{ops_id}",
                 json={"metadata": {"label": VERBATIM, "tenant_id": "t-1"}}, headers=headers)
    rows = audits(org, "apikey.update")
    assert len(rows) == 2 and rows[0].target.startswith("apikey:")
    assert rows[0].details["before"] == {"metadata": {}}
    assert rows[0].details["after"] == {"metadata": {"tenant_id": "t-1", "label": VERBATIM}}
    cleared = client.patch(f"/api/v1/api-keys/{ops_id}", json={"metadata": {}}, headers=headers)
    assert cleared.get_json()["metadata"] == {} and key_rows(ops_id) == {}
    assert client.patch(f"/api/v1/api-keys/{ops_id}", json={},
                        headers=headers).status_code == 422  # metadata is required
    assert client.get(f"/api/v1/api-keys/{uuid.uuid4()}", headers=headers).status_code == 404


def test_api_keys_pages_with_a_cursor_that_keeps_its_filter(client):
    org, _ = api_org(owner="owner", bob="member")
    key, _ = factories.api_key(org, all_scopes())
    made = [factories.api_key(org, ["usage:write"], name=f"k{i}")[1] for i in range(5)]
    for key_id in made[:4]:
        client.patch(f"/api/v1/api-keys/{key_id}", json={"metadata": {"g": "x"}},
                     headers=bearer(key))
    seen, cursor = [], None
    while True:
        query = {"limit": 3, "metadata[g]": "x", **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/api-keys", query_string=query,
                          headers=bearer(key)).get_json()
        seen += [k["id"] for k in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(str(k) for k in made[:4])
    first = client.get("/api/v1/api-keys", query_string={"limit": 3, "metadata[g]": "x"},
                       headers=bearer(key)).get_json()["next_cursor"]
    for other in ({"limit": 3, "cursor": first}, {"limit": 2, "metadata[g]": "x",
                                                  "cursor": first}):
        assert client.get("/api/v1/api-keys", query_string=other,
                          headers=bearer(key)).status_code == 400
    members_cursor = client.get("/api/v1/members", query_string={"limit": 1},
                                headers=bearer(key)).get_json()["next_cursor"]
    assert members_cursor  # a real cursor, of another list
    assert client.get("/api/v1/api-keys", query_string={"cursor": members_cursor},
                      headers=bearer(key)).status_code == 400


def test_api_key_metadata_needs_its_scope_and_permission(client):
    from tests.helpers import bearer_headers, login

    org, people = api_org(owner="owner", bob="member")
    _, target = factories.api_key(org, ["usage:write"])
    narrow, _ = factories.api_key(org, [s for s in all_scopes() if not s.startswith("api_keys")])
    reader, _ = factories.api_key(org, ["api_keys:read"])
    for headers, method, status in (
        (bearer(narrow), "get", 403), (bearer(narrow), "patch", 403),
        (bearer(reader), "get", 200), (bearer(reader), "patch", 403),
    ):
        response = getattr(client, method)(
            f"/api/v1/api-keys/{target}", headers=headers,
            **({"json": {"metadata": {"a": "b"}}} if method == "patch" else {}))
        assert response.status_code == status, (method, response.get_json())
        if status == 403:
            assert response.get_json()["error"]["code"] == "insufficient_scope"
    # A member's access token: the role lacks apikeys.manage.
    login(client, people["bob"])
    member = bearer_headers(client)
    assert client.get("/api/v1/api-keys", headers=member).status_code == 403
    assert client.patch(f"/api/v1/api-keys/{target}", json={"metadata": {"a": "b"}},
                        headers=member).status_code == 403
    # No way to make, re-scope or revoke a key here.
    assert client.post("/api/v1/api-keys", json={"name": "x"},
                       headers=bearer(reader)).status_code == 405
    assert client.delete(f"/api/v1/api-keys/{target}", headers=bearer(reader)).status_code == 405
    patched = client.patch(f"/api/v1/api-keys/{target}",
                           json={"metadata": {}, "scopes": ["api_keys:write"]},
                           headers=bearer(reader))
    assert patched.status_code in (403, 422)
    assert key_rows(target) == {}
    assert factories.execute("SELECT scopes FROM org_credentials WHERE id = :k",
                             k=target).scalar_one() == ["usage:write"]


@pytest.mark.parametrize("query", [
    "metadata[a]=1&metadata[b]=2", "metadata[bad%20key]=1", "metadata[a]=" + "x" * 501,
    "metadata[a]=x%0Ay", "metadata[a]=1&metadata[a]=2", "metadata=1",
])
def test_bad_filters_are_a_400(client, org_key, query):
    _, _, headers = org_key
    for path in ("/api/v1/members", "/api/v1/usage/series", "/api/v1/api-keys"):
        response = client.get(f"{path}?{query}", headers=headers)
        assert response.status_code == 400, (path, query, response.get_json())
        # A control character in the query is the input guard's to refuse (invalid_input).
        expected = "invalid_input" if "%0A" in query else "invalid_parameter"
        assert response.get_json()["error"]["code"] == expected


def test_usage_events_carry_metadata_and_the_series_filters_by_it(client, org_key):
    org, _, headers = org_key
    batch = {"events": [
        usage_event("a1", 5, {"tenant_id": "t-1", "region": "eu"}),
        usage_event("a2", 7, {"tenant_id": "t-2"}),
        usage_event("a3", 11),
        usage_event("s1", 300, {"tenant_id": "t-1"}, metric="storage_bytes"),
        usage_event("s2", 200, {"tenant_id": "t-1"}, metric="storage_bytes"),
    ]}
    sent = client.post("/api/v1/usage/events", json=batch, headers=headers)
    assert sent.status_code == 200, sent.get_json()
    stored = factories.execute(
        "SELECT e.idempotency_key, m.key, m.value FROM usage_event_metadata m"
        " JOIN usage_events e ON e.org_id = m.org_id AND e.id = m.event_id"
        " WHERE m.org_id = :o ORDER BY 1, 2", o=org.id).all()
    assert [tuple(r) for r in stored] == [
        ("a1", "region", "eu"), ("a1", "tenant_id", "t-1"), ("a2", "tenant_id", "t-2"),
        ("s1", "tenant_id", "t-1"), ("s2", "tenant_id", "t-1")]
    # A retry with other metadata counts nothing and changes nothing (the first one stands).
    retry = client.post("/api/v1/usage/events",
                        json={"events": [usage_event("a1", 5, {"tenant_id": "t-9"})]},
                        headers=headers)
    assert retry.get_json()["duplicates"] == 1

    def series(**query):
        body = client.get("/api/v1/usage/series", query_string={"range": 7, **query},
                          headers=headers)
        assert body.status_code == 200, body.get_json()
        return {m["metric"]: m for m in body.get_json()["metrics"]}

    tagged = series(**{"metadata[tenant_id]": "t-1"})
    assert tagged["api_calls"]["total"] == 5 and tagged["api_calls"]["quota"] is None
    assert tagged["storage_bytes"]["total"] == 300  # a level: the day's peak, as in rollups
    assert series(**{"metadata[region]": "eu", "metric": "api_calls"})["api_calls"]["total"] == 5
    assert series(**{"metadata[tenant_id]": "t-9"})["api_calls"]["total"] == 0
    # Unfiltered: the rollups, every event (plus the API calls the requests themselves made).
    assert series()["api_calls"]["total"] >= 23


@pytest.mark.parametrize(("metadata", "says"), BAD[:-2] + [("x", "must be an object")])
def test_bad_usage_metadata_refuses_the_whole_batch(client, org_key, metadata, says):
    org, _, headers = org_key
    batch = {"events": [usage_event("ok", 1, {"fine": "yes"}), usage_event("bad", 1, metadata)]}
    response = client.post("/api/v1/usage/events", json=batch, headers=headers)
    if _guarded(metadata):
        _refused_by_guard(response)
    else:
        assert response.status_code == 422, response.get_json()
        error = response.get_json()["error"]
        assert error["code"] == "invalid_metadata" and "events[1].metadata" in error["message"]
        assert says in error["message"]
    assert factories.execute("SELECT count(*) FROM usage_events WHERE org_id = :o",
                             o=org.id).scalar_one() == 0
    assert factories.execute("SELECT count(*) FROM usage_event_metadata WHERE org_id = :o",
                             o=org.id).scalar_one() == 0


@pytest.mark.parametrize("value", ["a\nb", "tab\there", "del\x7f", "x" * 501])
def test_the_database_refuses_what_the_rules_refuse(admin_engine, value):
    """Defence in depth: a write that skipped the app's checks still fails (as the owner)."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    with admin_engine.connect() as conn:
        for table, column in (("member_metadata", "user_id"),
                              ("api_key_metadata", "credential_id")):
            with pytest.raises(IntegrityError, match="check constraint"), conn.begin():
                conn.execute(text(f"INSERT INTO {table} (org_id, {column}, key, value)"
                                  " VALUES (gen_random_uuid(), gen_random_uuid(), 'k', :v)"),
                             {"v": value})
        for table in ("org_metadata", "usage_event_metadata"):
            column = ", event_id" if table == "usage_event_metadata" else ""
            one = ", 1" if column else ""
            with pytest.raises(IntegrityError, match="check constraint"), conn.begin():
                conn.execute(text(f"INSERT INTO {table} (org_id{column}, key, value)"
                                  f" VALUES (gen_random_uuid(){one}, 'k', :v)"), {"v": value})
            with pytest.raises(IntegrityError, match="check constraint"), conn.begin():
                conn.execute(text(f"INSERT INTO {table} (org_id{column}, key, value)"
                                  f" VALUES (gen_random_uuid(){one}, 'bad key', 'v')"))
