"""Org A's SCIM token reaches nothing of org B: not by id, not by filter, not by patch or
delete, not even for a person who is a member of both (checked as the superuser)."""

from __future__ import annotations

from tests.scim.conftest import ScimClient, membership_role, org_state, person_id, scim_org


def test_a_token_cannot_read_filter_patch_or_delete_b(app):
    a, _, a_domain, a_token, _ = scim_org()
    b, _, b_domain, b_token, _ = scim_org()
    client_a = ScimClient(app.test_client(), a_token)
    client_b = ScimClient(app.test_client(), b_token)

    # A person in both orgs (email at B's domain, added to A by hand and linked there).
    shared_email = f"both@{b_domain}"
    b_shared = client_b.create_user(shared_email)
    pid = person_id(shared_email)
    from tests import factories

    factories.MembershipFactory(org_id=a.id, user_id=pid, role="member")
    a_shared = client_a.create_user(shared_email)
    assert a_shared["id"] != b_shared["id"]
    b_only = client_b.create_user(f"only-b@{b_domain}")
    b_group = client_b.create_group("B Team", [b_shared["id"], b_only["id"]])
    a_group = client_a.create_group("A Team", [a_shared["id"]])
    before = org_state(b.id)

    for kind, ident in (("Users", b_shared["id"]), ("Users", b_only["id"]),
                        ("Groups", b_group["id"])):
        assert client_a.get(f"/{kind}/{ident}").status_code == 404
        assert client_a.put(f"/{kind}/{ident}", {
            "schemas": [f"urn:ietf:params:scim:schemas:core:2.0:{kind[:-1]}"],
            "userName": "taken@x.example", "displayName": "taken"}).status_code == 404
        assert client_a.patch(f"/{kind}/{ident}", {"op": "replace", "path": "displayName",
                                                  "value": "owned"}).status_code == 404
        assert client_a.delete(f"/{kind}/{ident}").status_code == 404
    for query in (f'userName eq "only-b@{b_domain}"', f'id eq "{b_only["id"]}"',
                  f'emails[type eq "work"].value eq "only-b@{b_domain}"',
                  'userName sw "only-b"'):
        assert client_a.get(f"/Users?filter={query}").get_json()["totalResults"] == 0, query
    shared = client_a.get(f'/Users?filter=userName eq "{shared_email}"').get_json()
    assert [r["id"] for r in shared["Resources"]] == [a_shared["id"]]
    assert client_a.get('/Groups?filter=displayName eq "B Team"').get_json()["totalResults"] == 0
    listed = client_a.get("/Users").get_json()
    assert {r["id"] for r in listed["Resources"]} == {a_shared["id"]}
    # B's user as a member of A's group: an unknown id for A.
    response = client_a.patch(f"/Groups/{a_group['id']}", {
        "op": "add", "path": "members", "value": [{"value": b_only["id"]}]})
    assert response.status_code == 400
    # A deactivates and deletes the shared person: only A's membership goes.
    client_a.patch(f"/Users/{a_shared['id']}", {"op": "replace", "path": "active",
                                                "value": False})
    assert membership_role(a.id, pid) is None
    client_a.delete(f"/Users/{a_shared['id']}")
    assert membership_role(b.id, pid) == "member"
    assert org_state(b.id) == before
