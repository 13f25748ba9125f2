"""Members and invitations through the API: the members area's rules, cursor pages, scopes."""

from __future__ import annotations

from tests import factories
from tests.api.conftest import all_scopes, api_org, bearer


def role_of(org, user):
    return factories.execute(
        "SELECT role FROM memberships WHERE org_id = :o AND user_id = :u", o=org.id, u=user.id
    ).scalar_one_or_none()


def test_cursor_pages_walk_every_member_once(client):
    roles = {f"m{i}": "member" for i in range(7)}
    org, people = api_org(owner="owner", **roles)
    key, _ = factories.api_key(org, ["members:read"])
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/members", query_string=query, headers=bearer(key)).get_json()
        seen += [m["user_id"] for m in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 8
    assert set(seen) == {str(p.id) for p in people.values()}
    # A cursor only continues its own query, and cannot be edited.
    first = client.get("/api/v1/members?limit=3", headers=bearer(key)).get_json()["next_cursor"]
    for bad in [first + "x", first[:-2], "garbage", "a.b"]:
        response = client.get("/api/v1/members", query_string={"limit": 3, "cursor": bad},
                              headers=bearer(key))
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_cursor"
    other = client.get("/api/v1/members", query_string={"limit": 4, "cursor": first},
                       headers=bearer(key))
    assert other.status_code == 400


def test_read_change_role_and_remove_follow_the_members_rules(client):
    org, people = api_org(owner="owner", admin="admin", bob="member", carol="member")
    key, _ = factories.api_key(org, ["members:read", "members:write"])
    h = bearer(key)
    bob = people["bob"]
    got = client.get(f"/api/v1/members/{bob.id}", headers=h).get_json()
    assert got["email"] == bob.email and got["role"]["key"] == "member"
    changed = client.patch(f"/api/v1/members/{bob.id}", json={"role": "admin"}, headers=h)
    assert changed.status_code == 200 and changed.get_json()["role"]["key"] == "admin"
    assert role_of(org, bob) == "admin"
    # A key acts as an admin at most: it can neither grant nor touch the owner role.
    owner = people["owner"]
    assert client.patch(f"/api/v1/members/{bob.id}", json={"role": "owner"},
                        headers=h).status_code == 403
    assert client.patch(f"/api/v1/members/{owner.id}", json={"role": "member"},
                        headers=h).status_code == 403
    assert client.delete(f"/api/v1/members/{owner.id}", headers=h).status_code == 403
    assert role_of(org, owner) == "owner"
    assert client.patch(f"/api/v1/members/{bob.id}", json={"role": "no-such-role"},
                        headers=h).status_code == 400
    assert client.delete(f"/api/v1/members/{people['carol'].id}", headers=h).status_code == 204
    assert role_of(org, people["carol"]) is None
    actions = factories.execute(
        "SELECT action, actor FROM audit_events WHERE org_id = :o AND action LIKE 'member.%'",
        o=org.id).all()
    assert {a.action for a in actions} == {"member.role_change", "member.remove"}
    assert all(a.actor.startswith("api-key:") for a in actions)


def test_a_read_only_key_cannot_write(client):
    org, people = api_org(owner="owner", bob="member")
    key, _ = factories.api_key(org, ["members:read", "invitations:read"])
    h = bearer(key)
    bob = people["bob"]
    for response in [
        client.patch(f"/api/v1/members/{bob.id}", json={"role": "admin"}, headers=h),
        client.delete(f"/api/v1/members/{bob.id}", headers=h),
        client.post("/api/v1/invitations", json={"emails": ["x@example.com"]}, headers=h),
    ]:
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "insufficient_scope"
    assert role_of(org, bob) == "member"


def test_invitations_create_list_and_revoke(client, mail_server):
    org, people = api_org(owner="owner", bob="member")
    key, _ = factories.api_key(org, all_scopes(), created_by=people["owner"])
    h = bearer(key)
    created = client.post("/api/v1/invitations", headers=h, json={
        "emails": ["new.person@example.com", people["bob"].email], "role": "member",
    })
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert [i["email"] for i in body["invited"]] == ["new.person@example.com"]
    assert body["already_members"] == [people["bob"].email]
    assert "invited you" in mail_server.last(to="new.person@example.com")["Subject"]
    listed = client.get("/api/v1/invitations", headers=h).get_json()
    assert [i["email"] for i in listed["items"]] == ["new.person@example.com"]
    invitation_id = listed["items"][0]["id"]
    assert client.delete(f"/api/v1/invitations/{invitation_id}", headers=h).status_code == 204
    assert client.delete(f"/api/v1/invitations/{invitation_id}", headers=h).status_code == 409
    assert client.get("/api/v1/invitations", headers=h).get_json()["items"] == []
    refused = client.post("/api/v1/invitations", headers=h,
                          json={"emails": ["boss@example.com"], "role": "owner"})
    assert refused.status_code == 403


def test_the_members_cursor_is_checked_by_the_shared_query_cursor_rule(client, monkeypatch):
    """One rule for cursors that carry their query (api/pagination.query_position): the
    members list and the API keys list refuse a foreign-query cursor the same way."""
    from dashboard.api import pagination

    org, _ = api_org(owner="owner", a="member", b="member", c="member")
    key, _ = factories.api_key(org, ["members:read", "api_keys:read"])
    factories.api_key(org, ["members:read"])
    factories.api_key(org, ["members:read"])
    checked = []
    shared = pagination.query_position

    def spy(cursor, resource, org_id, fingerprint):
        checked.append(resource)
        return shared(cursor, resource, org_id, fingerprint)

    monkeypatch.setattr(pagination, "query_position", spy)
    refusals = []
    for path in ("/api/v1/members", "/api/v1/api-keys"):
        first = client.get(path, query_string={"limit": 1},
                           headers=bearer(key)).get_json()["next_cursor"]
        assert first
        assert client.get(path, query_string={"limit": 1, "cursor": first},
                          headers=bearer(key)).status_code == 200
        refused = client.get(path, query_string={"limit": 2, "cursor": first},
                             headers=bearer(key))
        assert refused.status_code == 400
        refusals.append(refused.get_json()["error"])
    assert refusals[0] == refusals[1]
    assert checked.count("members") == 3 and checked.count("api_keys") == 3
