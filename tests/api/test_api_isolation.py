"""A key of org A never reads, changes or learns of org B's objects through /api/v1/, with
B's ids in paths, queries and bodies; B's rows (dumped as the superuser) stay the same.
(The isolation prober also walks every /api/ route this way; this test names the cases.)"""

from __future__ import annotations

import json
import secrets

import pytest

from tests import factories
from tests.api.conftest import all_scopes, api_org, bearer
from tests.security.prober import RowDump


@pytest.fixture
def a_and_b():
    marker = f"zq{secrets.token_hex(5)}"
    org_a, people_a = api_org(owner="owner", alice="member")
    org_b, people_b = api_org(owner="owner", bert="member")
    factories.execute("UPDATE users SET name = :n WHERE id = :u",
                      n=f"Bert {marker}", u=people_b["bert"].id)
    invitation_b = factories.execute(
        "INSERT INTO invitations (org_id, email, role, token_hash, expires_at, invited_by)"
        " VALUES (:o, :e, 'member', :h, now() + interval '7 days', :by) RETURNING id",
        o=org_b.id, e=f"invitee.{marker}@example.com", h=secrets.token_bytes(32),
        by=people_b["owner"].id,
    ).scalar_one()
    factories.execute(
        "INSERT INTO audit_events (org_id, actor, action, target) VALUES (:o, :a, 'x', :t)",
        o=org_b.id, a=f"actor {marker}", t=f"target {marker}",
    )
    key_a, _ = factories.api_key(org_a, all_scopes())
    return {"a": org_a, "people_a": people_a, "b": org_b, "people_b": people_b,
            "invitation_b": invitation_b, "marker": marker, "headers": bearer(key_a)}


def test_bs_ids_in_paths_queries_and_bodies_reach_nothing_of_b(client, admin_engine, a_and_b):
    b, people_b = a_and_b["b"], a_and_b["people_b"]
    marker, h = a_and_b["marker"], a_and_b["headers"]
    bert, invitation = people_b["bert"], a_and_b["invitation_b"]
    dump = RowDump(admin_engine, b.id)
    before = dump.take()
    refused_as_missing = [
        client.get(f"/api/v1/members/{bert.id}", headers=h),
        client.patch(f"/api/v1/members/{bert.id}", json={"role": "admin"}, headers=h),
        client.delete(f"/api/v1/members/{bert.id}", headers=h),
        client.delete(f"/api/v1/members/{people_b['owner'].id}", headers=h),
        client.delete(f"/api/v1/invitations/{invitation}", headers=h),
    ]
    for response in refused_as_missing:
        assert response.status_code == 404, response.get_json()
    naming_b = [
        client.get(f"/api/v1/org?org_id={b.id}", headers=h),
        client.get(f"/api/v1/members?org_id={b.id}", headers=h),
        client.get(f"/api/v1/members?q={marker}", headers=h),
        client.get(f"/api/v1/audit/events?actor={marker}", headers=h),
        client.post("/api/v1/invitations", headers=h,
                    json={"emails": ["x@example.com"], "org_id": str(b.id)}),
        client.patch(f"/api/v1/members/{a_and_b['people_a']['alice'].id}", headers=h,
                     json={"role": "admin", "org_id": str(b.id)}),
        client.post("/api/v1/usage/events", headers=h, json={"org_id": str(b.id), "events": []}),
    ]
    for response in naming_b:
        assert response.status_code < 500
        text = response.get_data(as_text=True)
        assert marker not in text and str(bert.id) not in text
        if response.status_code == 200 and "items" in (response.get_json() or {}):
            assert response.get_json()["items"] == []
    org = client.get("/api/v1/org", headers=h).get_json()
    assert org["id"] == str(a_and_b["a"].id)
    everything = "".join(
        client.get(path, headers=h).get_data(as_text=True)
        for path in ["/api/v1/members?limit=100", "/api/v1/invitations?limit=200",
                     "/api/v1/audit/events?limit=200", "/api/v1/usage/series?range=365"]
    )
    assert marker not in everything and str(b.id) not in everything
    after = dump.take()
    assert before == after, RowDump.diff(before, after)


def test_bodies_naming_another_org_are_refused_and_change_nothing(client, a_and_b):
    h, b = a_and_b["headers"], a_and_b["b"]
    response = client.post("/api/v1/invitations", headers=h,
                           json={"emails": ["x@example.com"], "org_id": str(b.id)})
    assert response.status_code == 422
    assert "org_id: unknown field" in response.get_json()["error"]["message"]
    count = factories.execute("SELECT count(*) FROM invitations WHERE email = 'x@example.com'"
                              " AND org_id IN (:a, :b)", a=a_and_b["a"].id, b=b.id).scalar_one()
    assert count == 0
    query = client.get(f"/api/v1/members?org_id={b.id}", headers=h)
    assert query.status_code == 400 and "org_id" in json.dumps(query.get_json())


def test_a_users_access_token_of_a_reaches_nothing_of_b_either(client, admin_engine, a_and_b):
    from tests.helpers import bearer_headers, login

    login(client, a_and_b["people_a"]["owner"])
    h = bearer_headers(client)
    b, bert = a_and_b["b"], a_and_b["people_b"]["bert"]
    dump = RowDump(admin_engine, b.id)
    before = dump.take()
    for response in [
        client.get(f"/api/v1/members/{bert.id}", headers=h),
        client.patch(f"/api/v1/members/{bert.id}", json={"role": "admin"}, headers=h),
        client.delete(f"/api/v1/members/{bert.id}", headers=h),
        client.delete(f"/api/v1/invitations/{a_and_b['invitation_b']}", headers=h),
    ]:
        assert response.status_code == 404, response.get_json()
        assert a_and_b["marker"] not in response.get_data(as_text=True)
    assert client.get("/api/v1/org", headers=h).get_json()["id"] == str(a_and_b["a"].id)
    assert dump.take() == before
